namespace BuildFarm.Store.Quarantine;

/// <summary>The quarantine-serve stream broke its framing: the two sides are out of step and must start over.</summary>
public sealed class QuarantineProtocolException(string message) : Exception(message);
