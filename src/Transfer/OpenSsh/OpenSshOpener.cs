using System.Diagnostics;
using System.Globalization;
using BuildFarm.Transfer.Connections;
using BuildFarm.Transfer.Errors;
using BuildFarm.Transfer.Origins;
using Serilog;

namespace BuildFarm.Transfer.OpenSsh;

/// <summary>
/// Opens OpenSSH connections to one origin: a private state directory (0700, removed on dispose) holds each
/// connection's known_hosts (0600, only the pinned keys), control socket and log. No user or system ssh config, no
/// agent: every option that matters is on the command line.
/// </summary>
internal sealed class OpenSshOpener : IConnectionOpener
{
    /// <summary>Ciphers OpenSSH 9 knows; only these of <see cref="OriginConnectionSettings.PreferredCiphers"/> are proposed (an unknown one would be a fatal error).</summary>
    private static readonly HashSet<string> KnownCiphers = new(StringComparer.Ordinal)
    {
        "chacha20-poly1305@openssh.com", "aes128-gcm@openssh.com", "aes256-gcm@openssh.com", "aes128-ctr", "aes192-ctr", "aes256-ctr",
    };

    private const string Prefix = "bf-ssh-";

    private readonly DirectoryInfo _state;
    private long _logs;

    public OpenSshOpener(OriginConnectionSettings settings, ILogger logger)
    {
        Settings = settings;
        Logger = logger;
        RemoveLeftovers();
        // CreateTempSubdirectory makes it 0700 and owned by us: nobody else can swap the known_hosts or reach the sockets.
        _state = Directory.CreateTempSubdirectory($"{Prefix}{Environment.ProcessId}-");
        if (Path.Combine(_state.FullName, "m999.sock").Length > 100)
        {
            throw new InvalidOriginConnectionSettingsException(settings, [
                $"Transport {OriginTransport.OpenSsh}: the temp directory '{_state.FullName}' is too long for a control socket path (100 bytes); set TMPDIR to a shorter one."]);
        }
    }

    public OriginConnectionSettings Settings { get; }

    public ILogger Logger { get; }

    public string StateDirectory => _state.FullName;

    /// <summary>A fresh path for one ssh's <c>-E</c> log.</summary>
    public string NextLogPath() => Path.Combine(_state.FullName, $"ssh-{Interlocked.Increment(ref _logs)}.log");

    public async Task<PooledConnection> OpenAsync(int id, CancellationToken cancellationToken)
    {
        var keys = PinnedKnownHosts.Select(Settings, await ScanAsync(cancellationToken));
        var knownHosts = Path.Combine(_state.FullName, $"known_hosts.{id}");
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite };
        await using (var file = new StreamWriter(knownHosts, options))
            await file.WriteAsync(PinnedKnownHosts.Format(keys));
        return await OpenSshMaster.StartAsync(this, id, knownHosts, PinnedKnownHosts.Algorithms(keys), cancellationToken);
    }

    /// <summary>The options every ssh we run shares: no config files, no agent, only the pinned key accepted.</summary>
    public IEnumerable<string> CommonArguments(string knownHosts, string controlPath, string logPath) =>
    [
        "-F", "/dev/null",
        "-o", "BatchMode=yes",
        "-o", "StrictHostKeyChecking=yes",
        "-o", $"UserKnownHostsFile={knownHosts}",
        "-o", "GlobalKnownHostsFile=/dev/null",
        "-o", $"HostKeyAlias={PinnedKnownHosts.Alias}",
        "-o", "CheckHostIP=no",
        "-o", "UpdateHostKeys=no",
        "-o", $"ControlPath={controlPath}",
        "-o", "LogLevel=ERROR",
        "-E", logPath,
        "-p", Settings.Port.ToString(CultureInfo.InvariantCulture),
        "-l", Settings.User,
    ];

    /// <summary>The options of a connection's master: login, keep-alives, ciphers, compression.</summary>
    public IEnumerable<string> MasterArguments(string hostKeyAlgorithms)
    {
        var ciphers = Settings.PreferredCiphers.Where(KnownCiphers.Contains).ToList();
        var alive = Settings.KeepAliveInterval == Timeout.InfiniteTimeSpan ? 0 : (int)Math.Max(1, Settings.KeepAliveInterval.TotalSeconds);
        List<string> args =
        [
            "-o", "IdentitiesOnly=yes",
            "-o", "IdentityAgent=none",
            "-i", Settings.PrivateKeyFile,
            "-o", $"HostKeyAlgorithms={hostKeyAlgorithms}",
            "-o", $"ConnectTimeout={(int)Math.Ceiling(Settings.ConnectTimeout.TotalSeconds)}",
            "-o", $"ServerAliveInterval={alive}",
            "-o", "ServerAliveCountMax=3",
            "-o", $"Compression={(Settings.Compression == TransferCompression.SshZlib ? "yes" : "no")}",
            "-o", "ForwardAgent=no",
            "-o", "ForwardX11=no",
            "-o", "ClearAllForwardings=yes",
            "-o", "PermitLocalCommand=no",
        ];
        if (ciphers.Count > 0)
            args.AddRange(["-o", "Ciphers=^" + string.Join(',', ciphers)]);
        return args;
    }

    public void Dispose()
    {
        try
        {
            _state.Delete(recursive: true);
        }
        catch (IOException)
        {
            // Only sockets and logs of killed processes left; the temp directory is cleaned some other day.
        }
    }

    private async Task<IReadOnlyList<PinnedKnownHosts.ScannedKey>> ScanAsync(CancellationToken cancellationToken)
    {
        var psi = new ProcessStartInfo("ssh-keyscan") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (var arg in (string[])["-T", ((int)Math.Ceiling(Settings.ConnectTimeout.TotalSeconds)).ToString(CultureInfo.InvariantCulture), "-p", Settings.Port.ToString(CultureInfo.InvariantCulture), "--", Settings.Host])
            psi.ArgumentList.Add(arg);
        using var process = Process.Start(psi) ?? throw new OpenSshFailedException(Settings.Name, "could not start ssh-keyscan", transient: false);
        process.StandardInput.Close();
        try
        {
            var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
            var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
            await process.WaitForExitAsync(cancellationToken);
            var keys = PinnedKnownHosts.Parse(await stdout);
            if (keys.Count == 0)
            {
                var why = string.Join(' ', (await stderr).Split('\n').Where(l => l.Length > 0 && !l.StartsWith('#'))).Trim();
                throw new OpenSshFailedException(Settings.Name, $"ssh-keyscan got no host key ({(why.Length > 0 ? why : "no answer")})", transient: true);
            }

            return keys;
        }
        catch (OperationCanceledException)
        {
            Kill(process);
            throw;
        }
    }

    /// <summary>
    /// Deletes the state directories of processes that no longer run (a worker killed before it could dispose its
    /// openers; their masters died with it). Only public keys, logs and dead sockets are in them.
    /// </summary>
    private static void RemoveLeftovers()
    {
        IEnumerable<string> dirs;
        try
        {
            dirs = Directory.GetDirectories(Path.GetTempPath(), Prefix + "*");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return;
        }

        foreach (var dir in dirs)
        {
            var name = Path.GetFileName(dir)[Prefix.Length..];
            var dash = name.IndexOf('-', StringComparison.Ordinal);
            if (dash <= 0 || !int.TryParse(name[..dash], NumberStyles.None, CultureInfo.InvariantCulture, out var pid)
                || pid == Environment.ProcessId || Directory.Exists($"/proc/{pid}"))
                continue;
            try
            {
                Directory.Delete(dir, recursive: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Another user's, or being removed by someone else: not ours to clean.
            }
        }
    }

    internal static void Kill(Process process)
    {
        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            // Already exited.
        }
    }
}
