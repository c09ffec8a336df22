namespace BuildFarm.Transfer.Errors;

/// <summary>The SSH connection carrying a remote command dropped before the command finished. Transient.</summary>
public sealed class ChannelLostException(string origin, string command, long bytesRead, Exception? inner)
    : IOException($"Connection to {origin} was lost while running '{command}' after {bytesRead} bytes of output"
        + (inner is null ? "" : $": {inner.Message}"), inner)
{
    public string Origin { get; } = origin;

    public long BytesRead { get; } = bytesRead;
}
