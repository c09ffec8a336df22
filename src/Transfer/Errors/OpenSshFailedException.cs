namespace BuildFarm.Transfer.Errors;

/// <summary>
/// OpenSSH's client could not connect or log in to an origin (<see cref="Origins.OriginTransport.OpenSsh"/>); the
/// message carries what <c>ssh</c> logged. <see cref="Transient"/> when the network or the server's availability is
/// to blame (refused, reset, timed out), not when login was refused.
/// </summary>
public sealed class OpenSshFailedException(string origin, string message, bool transient)
    : IOException($"OpenSSH to {origin}: {message}")
{
    public string Origin { get; } = origin;

    public bool Transient { get; } = transient;
}
