namespace BuildFarm.Transfer.Errors;

/// <summary>
/// An upload made no progress for its stall timeout: the origin took no byte of it (its SSH window stayed shut), or
/// gave no answer after the last one. The link is blackholed or the origin stopped reading; the worker dropped the
/// channel and its connection. Not retried here: the attempt fails as an infrastructure failure and the build is retried.
/// </summary>
public sealed class UploadStalledException(string origin, string command, TimeSpan timeout, long bytesSent, Exception? inner = null)
    : Exception($"the upload to {origin} stalled: no progress for {timeout.TotalSeconds:0.###} s after {bytesSent} bytes sent "
        + $"(Origins:UploadStallTimeout; '{command}'); its SSH connection was dropped", inner)
{
    public string Origin { get; } = origin;

    public TimeSpan Timeout { get; } = timeout;

    public long BytesSent { get; } = bytesSent;
}
