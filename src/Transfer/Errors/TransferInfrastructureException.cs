namespace BuildFarm.Transfer.Errors;

/// <summary>
/// The transport to an origin failed for reasons outside the build (network, sshd down, circuit open) after the
/// retries allowed. The build itself is fine: the lifecycle should put it back for another worker or a later try.
/// </summary>
public sealed class TransferInfrastructureException(string origin, string message, int attempts, bool circuitOpen, Exception? inner)
    : Exception(message, inner)
{
    public string Origin { get; } = origin;

    /// <summary>Attempts made by this operation (0 when the circuit was already open).</summary>
    public int Attempts { get; } = attempts;

    /// <summary>True when the origin's circuit breaker refused the call without trying (fail fast).</summary>
    public bool CircuitOpen { get; } = circuitOpen;
}
