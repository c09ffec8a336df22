namespace BuildFarm.Dispatcher.Hosting;

/// <summary>
/// The <c>Dispatcher:Origin</c> section: how workers reach this dispatcher's origin store over SSH to pull inputs and
/// return outputs. Configured when <see cref="Host"/> is set; then every request carries it and its input closure.
/// </summary>
public sealed class OriginOptions
{
    /// <summary>DNS name or address of the origin's sshd, as workers see it; empty = no origin (inputs already on workers).</summary>
    public string Host { get; set; } = "";

    /// <summary>SSH port of the origin.</summary>
    public int Port { get; set; } = 22;

    /// <summary>Login user workers use on the origin.</summary>
    public string User { get; set; } = "buildfarm";

    /// <summary>Pinned host key of the origin, OpenSSH <c>SHA256:base64</c> (as printed by <c>ssh-keygen -lf</c>).</summary>
    public string HostKeyFingerprint { get; set; } = "";

    /// <summary>Instead of <see cref="HostKeyFingerprint"/>: the origin's public host key file (e.g. <c>/etc/ssh/ssh_host_ed25519_key.pub</c>).</summary>
    public string HostPublicKeyFile { get; set; } = "";

    /// <summary>The <c>buildfarm</c> command on the origin with its store flags; empty = this executable with the dispatcher's StoreDir and Root.</summary>
    public string RemoteCommand { get; set; } = "";

    /// <summary>True when an origin is configured.</summary>
    public bool IsConfigured => !string.IsNullOrWhiteSpace(Host);
}
