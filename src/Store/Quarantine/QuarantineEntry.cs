namespace BuildFarm.Store.Quarantine;

/// <summary>One file of the quarantine: an attempt's complete archive, or its <c>.part</c> while being received.</summary>
public sealed record QuarantineEntry(string File, Guid BuildId, int Attempt, bool IsPart, DateTime LastWriteUtc);
