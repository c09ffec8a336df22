namespace BuildFarm.Transfer.Origins;

/// <summary>Which SSH client carries the commands to an origin. Both pin the host key and log in with the same key.</summary>
public enum OriginTransport
{
    /// <summary>
    /// OpenSSH's <c>ssh</c> client (must be installed), one multiplexing master per pooled connection: about 0.6× the
    /// client CPU per byte of SSH.NET, TCP backpressure on downloads (bench/pull).
    /// </summary>
    OpenSsh,

    /// <summary>SSH.NET inside the process: no external binary, but no download backpressure (its window is unbounded).</summary>
    SshNet,
}
