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

    /// <summary>
    /// The SSH client: <c>OpenSsh</c> (default; needs <c>ssh</c> and <c>ssh-keyscan</c> on PATH) or <c>SshNet</c>
    /// (in-process). Both pin the host key the same way (docs/operations.md).
    /// </summary>
    public OriginTransport Transport { get; set; } = OriginTransport.OpenSsh;

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

    /// <summary>
    /// How long returning outputs may make no progress (the origin takes no byte of the archive, or gives no answer
    /// after the last one) before the worker drops the channel and its SSH connection and fails the attempt as an
    /// infrastructure failure (the build is retried), 1 s..1 hour. Default 1 min. A blackholed link otherwise holds the
    /// upload until TCP gives up.
    /// </summary>
    public TimeSpan UploadStallTimeout { get; set; } = TimeSpan.FromMinutes(1);

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

    /// <summary>Host key fingerprint <c>SHA256:base64</c> (<c>ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub</c>).
    /// This or <see cref="HostPublicKeyFile"/>.</summary>
    public string Fingerprint { get; set; } = "";

    /// <summary>Instead of <see cref="Fingerprint"/>: a copy of the origin's host public key file
    /// (<c>ssh_host_ed25519_key.pub</c>); the fingerprint is computed from it as <c>ssh-keygen -lf</c> does, each time
    /// a request names the origin.</summary>
    public string HostPublicKeyFile { get; set; } = "";

    /// <summary>The pinned fingerprint in canonical form, or null with the reason (naming the key that is wrong).</summary>
    public string? ResolveFingerprint(out string? error)
    {
        var hasPrint = !string.IsNullOrWhiteSpace(Fingerprint);
        var hasFile = !string.IsNullOrWhiteSpace(HostPublicKeyFile);
        if (hasPrint == hasFile)
        {
            error = hasPrint
                ? "give Fingerprint or HostPublicKeyFile, not both"
                : "Fingerprint is empty: pin the origin's host key as 'SHA256:base64' (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub), or set HostPublicKeyFile";
            return null;
        }

        if (hasPrint)
        {
            if (HostKeyFingerprint.TryParse(Fingerprint, out var canonical, out var why))
            {
                error = null;
                return canonical;
            }

            error = $"Fingerprint '{Fingerprint}' is invalid: {why}";
            return null;
        }

        string text;
        try
        {
            text = File.ReadAllText(HostPublicKeyFile);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            error = $"HostPublicKeyFile '{HostPublicKeyFile}' cannot be read: {e.Message}";
            return null;
        }

        if (HostKeyFingerprint.TryOfPublicKey(text, out var fingerprint, out var keyError))
        {
            error = null;
            return fingerprint;
        }

        error = $"HostPublicKeyFile '{HostPublicKeyFile}': {keyError}";
        return null;
    }
}
