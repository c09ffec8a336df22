namespace BuildFarm.Transfer.Origins;

/// <summary>How data crossing the SSH connection is compressed.</summary>
public enum TransferCompression
{
    /// <summary>No compression (default: on fast links compression costs more CPU than it saves time).</summary>
    None,

    /// <summary>SSH transport compression (<c>zlib@openssh.com</c>), negotiated per connection; covers every channel.</summary>
    SshZlib,

    /// <summary>Download commands are piped through <c>gzip -1</c> on the origin and decompressed here.</summary>
    RemoteGzip,
}
