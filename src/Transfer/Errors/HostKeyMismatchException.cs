namespace BuildFarm.Transfer.Errors;

/// <summary>
/// The origin presented a host key that is not pinned. The connection was refused before authentication: nothing was
/// sent to the server and the connection is closed. Never retried.
/// </summary>
public sealed class HostKeyMismatchException(string origin, IReadOnlyList<string> expected, string presented, string keyType)
    : Exception($"Refusing origin {origin}: it presented host key {presented} ({keyType}), which is not pinned; "
        + $"expected {string.Join(" or ", expected)}. If the origin's host key was changed on purpose, "
        + "update the pinned fingerprint (ssh-keygen -lf on the origin's host key); otherwise someone may be intercepting the connection.")
{
    public string Origin { get; } = origin;

    public IReadOnlyList<string> ExpectedFingerprints { get; } = expected;

    public string PresentedFingerprint { get; } = presented;
}
