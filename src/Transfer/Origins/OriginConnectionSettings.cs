namespace BuildFarm.Transfer.Origins;

/// <summary>
/// How this machine connects to one origin store over SSH (key, pinned host keys, pool sizes), and how to run
/// <c>buildfarm</c> there. Not the contract record <c>Contracts.Builds.OriginEndpoint</c>, which is where the dispatcher
/// says an origin is; a worker builds these settings from that record and its own config.
/// </summary>
/// <param name="Host">DNS name or address of the origin's sshd.</param>
/// <param name="Port">TCP port of the origin's sshd (1..65535).</param>
/// <param name="User">Login user on the origin.</param>
/// <param name="PrivateKeyFile">Client private key (OpenSSH/PEM format, no passphrase) used for public-key login.</param>
/// <param name="HostKeyFingerprints">
/// Pinned host key fingerprints in OpenSSH form <c>SHA256:base64</c> (as printed by <c>ssh-keygen -lf</c>); at least
/// one. A server presenting any other key is refused: there is no trust-on-first-use.
/// </param>
/// <param name="RemoteCommand">
/// Command prefix that runs <c>buildfarm</c> on the origin, with its store flags, e.g.
/// <c>/usr/local/bin/buildfarm --store-dir /nix/store --root /var/lib/buildfarm/origin</c>. Passed to the remote
/// shell verbatim; arguments appended to it are shell-quoted.
/// </param>
public sealed record OriginConnectionSettings(
    string Host,
    int Port,
    string User,
    string PrivateKeyFile,
    IReadOnlyList<string> HostKeyFingerprints,
    string RemoteCommand = "buildfarm")
{
    /// <summary>Connections kept open to this origin at most (each carries several exec channels).</summary>
    public int MaxConnections { get; init; } = 2;

    /// <summary>Concurrent exec channels per connection; must not exceed the server's <c>MaxSessions</c> (OpenSSH: 10).</summary>
    public int ChannelsPerConnection { get; init; } = 8;

    /// <summary>TCP connect + SSH handshake + authentication timeout.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>SSH keep-alive interval on idle pooled connections; <see cref="Timeout.InfiniteTimeSpan"/> for none.</summary>
    public TimeSpan KeepAliveInterval { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Which SSH client carries the commands (<see cref="OriginTransport"/>). Default <see cref="OriginTransport.OpenSsh"/>:
    /// in bench/pull it cost less CPU per byte on both ends than SSH.NET and bounds what a pull holds in memory.
    /// </summary>
    public OriginTransport Transport { get; init; } = OriginTransport.OpenSsh;

    /// <summary>Compression of transferred data; off by default (it does not pay on fast links, see bench/transfer).</summary>
    public TransferCompression Compression { get; init; } = TransferCompression.None;

    /// <summary>
    /// SSH ciphers proposed first, in this order (the server picks the first of ours it supports); every other
    /// cipher SSH.NET knows follows. The default puts AES-GCM first: SSH.NET runs it through .NET's AesGcm (OpenSSL,
    /// AES-NI) with no separate MAC, where its own default, aes128-ctr with hmac-sha2-256, counts a block at a time
    /// in managed code (bench/pull: several times the throughput on loopback).
    /// </summary>
    public IReadOnlyList<string> PreferredCiphers { get; init; } = DefaultCiphers;

    /// <summary>The default of <see cref="PreferredCiphers"/>.</summary>
    public static IReadOnlyList<string> DefaultCiphers { get; } = ["aes128-gcm@openssh.com", "aes256-gcm@openssh.com", "chacha20-poly1305@openssh.com"];

    /// <summary>A short name for logs and errors: <c>user@host:port</c>.</summary>
    public string Name => $"{User}@{Host}:{Port}";

    /// <summary>Every problem with these settings, each naming the setting, the bad value and what would be valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(Host))
            errors.Add("Host is empty: give the origin's DNS name or IP address.");
        if (Port is < 1 or > 65535)
            errors.Add($"Port {Port} is out of range: use 1..65535 (sshd's default is 22).");
        if (string.IsNullOrWhiteSpace(User))
            errors.Add("User is empty: give the login user on the origin.");
        if (string.IsNullOrWhiteSpace(PrivateKeyFile))
            errors.Add("PrivateKeyFile is empty: give the path of the client's SSH private key.");
        else if (!File.Exists(PrivateKeyFile))
            errors.Add($"PrivateKeyFile '{PrivateKeyFile}' does not exist.");
        else if (PrivateKeyProblem(Transport, PrivateKeyFile) is { } key)
            errors.Add(key);
        if (HostKeyFingerprints is null || HostKeyFingerprints.Count == 0)
        {
            errors.Add("HostKeyFingerprints is empty: pin at least one host key as 'SHA256:base64' "
                + "(run 'ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub' on the origin).");
        }
        else
        {
            foreach (var fingerprint in HostKeyFingerprints)
            {
                if (!HostKeyFingerprint.TryParse(fingerprint, out _, out var why))
                    errors.Add($"HostKeyFingerprints entry '{fingerprint}' is invalid: {why}");
            }
        }

        if (string.IsNullOrWhiteSpace(RemoteCommand))
            errors.Add("RemoteCommand is empty: give the path of 'buildfarm' on the origin and its --store-dir/--root flags.");
        if (MaxConnections < 1)
            errors.Add($"MaxConnections {MaxConnections} must be at least 1.");
        if (ChannelsPerConnection is < 1 or > 64)
            errors.Add($"ChannelsPerConnection {ChannelsPerConnection} must be 1..64 and at most the server's MaxSessions (OpenSSH default 10).");
        if (ConnectTimeout <= TimeSpan.Zero)
            errors.Add($"ConnectTimeout {ConnectTimeout} must be positive.");
        if (KeepAliveInterval <= TimeSpan.Zero && KeepAliveInterval != Timeout.InfiniteTimeSpan)
            errors.Add($"KeepAliveInterval {KeepAliveInterval} must be positive (or infinite for none).");
        if (TransportProblem(Transport) is { } transport)
            errors.Add(transport);
        if (!Enum.IsDefined(Compression))
            errors.Add($"Compression {Compression} is not one of {string.Join(", ", Enum.GetNames<TransferCompression>())}.");
        return errors;
    }

    /// <summary>Why <paramref name="transport"/> cannot be used on this machine (unknown, or OpenSSH's client missing), or null.</summary>
    public static string? TransportProblem(OriginTransport transport)
    {
        if (!Enum.IsDefined(transport))
            return $"Transport {transport} is not one of {string.Join(", ", Enum.GetNames<OriginTransport>())}.";
        if (transport != OriginTransport.OpenSsh)
            return null;
        var path = (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin").Split(':', StringSplitOptions.RemoveEmptyEntries);
        var missing = OpenSshTools.Where(tool => !path.Any(dir => File.Exists(Path.Combine(dir, tool)))).ToList();
        return missing.Count == 0
            ? null
            : $"Transport {transport} needs {string.Join(" and ", missing)} on PATH (package openssh-client): install it or use Transport {OriginTransport.SshNet}.";
    }

    /// <summary>
    /// Why OpenSSH's client would refuse <paramref name="privateKeyFile"/> (group or others may access it: ssh stops
    /// with "UNPROTECTED PRIVATE KEY FILE"), or null; SSH.NET does not care.
    /// </summary>
    public static string? PrivateKeyProblem(OriginTransport transport, string privateKeyFile)
    {
        if (transport != OriginTransport.OpenSsh || !File.Exists(privateKeyFile))
            return null;
        const UnixFileMode others = UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute
            | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;
        var mode = File.GetUnixFileMode(privateKeyFile);
        return (mode & others) == 0
            ? null
            : $"PrivateKeyFile '{privateKeyFile}' may be accessed by group or others (mode {Convert.ToString((int)mode, 8).PadLeft(4, '0')}), which OpenSSH's client refuses: chmod 600 it (Transport {transport}).";
    }

    private static readonly string[] OpenSshTools = ["ssh", "ssh-keyscan"];

    /// <summary>Throws <see cref="InvalidOriginConnectionSettingsException"/> listing every problem, if there is any.</summary>
    public OriginConnectionSettings EnsureValid()
    {
        var errors = Validate();
        if (errors.Count > 0)
            throw new InvalidOriginConnectionSettingsException(this, errors);
        return this;
    }
}
