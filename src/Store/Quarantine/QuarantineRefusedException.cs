namespace BuildFarm.Store.Quarantine;

/// <summary>The origin refused an upload (too large, disk full, bad header) and said why.</summary>
public sealed class QuarantineRefusedException(string message) : Exception(message);
