using BuildFarm.Transfer.Origins;

namespace BuildFarm.Worker.Configuration;

/// <summary>
/// The origin stores this worker may pull inputs from and return outputs to over SSH (docs/offload.md). A request
/// whose <c>Origin</c> is not pinned here is refused. Empty (the default): the worker only takes requests whose
/// inputs are local (<c>Origin</c> null) and fails the others as infrastructure failures.
/// </summary>
public sealed class OriginsSection
{
    /// <summary>SSH private key (OpenSSH/PEM, no passphrase) the worker logs in to every origin with. Required when
    /// <see cref="PinnedHostKeys"/> is not empty.</summary>
    public string PrivateKeyFile { get; set; } = "";

    /// <summary>The origins' host keys: only these hosts are contacted, and only when they present this key.</summary>
    public List<PinnedHostKey> PinnedHostKeys { get; set; } = [];

    /// <summary>Public keys (<c>name:base64</c> per line) whose signatures on input paths are accepted (the origin
    /// store's signing keys). Required when <see cref="PinnedHostKeys"/> is not empty.</summary>
    public string TrustedInputKeysFile { get; set; } = "";

    /// <summary>Compression of transfers: <c>None</c> (default), <c>SshZlib</c> or <c>RemoteGzip</c> (downloads only).</summary>
    public TransferCompression Compression { get; set; } = TransferCompression.None;

    /// <summary>Retries of one transfer after its first attempt on transient failures (0..20). Default 6.</summary>
    public int MaxRetryAttempts { get; set; } = 6;

    /// <summary>First retry delay, doubling per retry with jitter. Default 1 s.</summary>
    public TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Cap on one retry delay. Default 30 s.</summary>
    public TimeSpan RetryMaxDelay { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long the circuit to a failing origin stays open (fail fast) before one probe. Default 30 s.</summary>
    public TimeSpan CircuitBreakDuration { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>SSH connections kept open per origin, shared by every build and slot (1..16). Default 2.</summary>
    public int MaxConnections { get; set; } = 2;

    /// <summary>Concurrent exec channels per connection; at most the origin sshd's <c>MaxSessions</c> (1..64). Default 8.</summary>
    public int ChannelsPerConnection { get; set; } = 8;

    /// <summary>
    /// How long an idle <c>store quarantine-serve</c> process (which returns outputs without a remote process start
    /// per build) is kept for the next upload; 0 = one process per upload. Default 1 min.
    /// </summary>
    public TimeSpan UploadSessionIdle { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>TCP connect + handshake + authentication timeout. Default 15 s.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(15);
}

/// <summary>One pinned origin: its sshd address and its host key.</summary>
public sealed class PinnedHostKey
{
    /// <summary>Host name or address, as the dispatcher puts it in requests (compared case-insensitively).</summary>
    public string Host { get; set; } = "";

    /// <summary>sshd port. Default 22.</summary>
    public int Port { get; set; } = 22;

    /// <summary>Host key fingerprint <c>SHA256:base64</c> (<c>ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub</c>).</summary>
    public string Fingerprint { get; set; } = "";
}
