namespace BuildFarm.Dispatcher.Origin;

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

    /// <summary>
    /// Which store is the origin: <c>local</c> (default) = BuildFarm's own store under <c>Dispatcher:Root</c>;
    /// <c>nix</c> = this machine's Nix store at <c>Dispatcher:StoreDir</c> (e.g. <c>/nix/store</c>), read from Nix's own
    /// database (<c>&lt;parent of StoreDir&gt;/var/nix/db/db.sqlite</c>, as Nix keeps it), outputs registered with <c>nix-store --register-validity</c>; <c>Dispatcher:Root</c> is then not used.
    /// </summary>
    public string Store { get; set; } = LocalStoreKind;

    public const string LocalStoreKind = "local";

    public const string NixStoreKind = "nix";

    /// <summary>True when the origin store is the machine's Nix store.</summary>
    public bool IsNixStore => string.Equals(Store.Trim(), NixStoreKind, StringComparison.OrdinalIgnoreCase);

    /// <summary>True when an origin is configured.</summary>
    public bool IsConfigured => !string.IsNullOrWhiteSpace(Host);
}
