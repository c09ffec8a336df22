using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace BuildFarm.Testing;

/// <summary>
/// A real OpenSSH server (<c>/usr/sbin/sshd -D -e</c>) on a free loopback port, in its own temp directory with its
/// own ed25519 host key and a generated client key in its AuthorizedKeysFile. Logs in as the current user (root in
/// CI). <see cref="Stop"/> and <see cref="Start"/> simulate an outage; dispose kills only this server's process.
/// </summary>
public sealed class SshdServer : IDisposable
{
    private readonly TempDirectory _dir = new("bf-sshd");
    private readonly object _gate = new();
    private Process? _process;
    private int _acceptedBeforeRestart;

    private SshdServer(int port)
    {
        Port = port;
    }

    public int Port { get; }

    public string Host { get; } = "127.0.0.1";

    public string User { get; } = Environment.UserName;

    /// <summary>The client's private key (OpenSSH format, no passphrase).</summary>
    public string ClientKeyPath => _dir.Combine("client_ed25519");

    public string HostKeyPath => _dir.Combine("host_ed25519");

    /// <summary>The host key's fingerprint in OpenSSH form, <c>SHA256:base64</c> (from <c>ssh-keygen -lf</c>).</summary>
    public string HostKeyFingerprint { get; private set; } = "";

    /// <summary>A scratch directory for test files, readable over SSH.</summary>
    public string DataDirectory => _dir.Combine("data");

    public string LogPath => _dir.Combine("sshd.log");

    public bool IsRunning
    {
        get
        {
            lock (_gate)
                return _process is { HasExited: false };
        }
    }

    /// <summary>SSH connections that authenticated, counted from sshd's log (across restarts).</summary>
    public int AcceptedConnections => _acceptedBeforeRestart + CountAccepted();

    public static async Task<SshdServer> StartAsync(int maxSessions = 16)
    {
        Directory.CreateDirectory("/run/sshd");
        var server = new SshdServer(FreeLoopbackPort());
        try
        {
            await server.InitialiseAsync(maxSessions);
            server.Start();
            await server.WaitUntilListeningAsync(TimeSpan.FromSeconds(20));
            return server;
        }
        catch
        {
            server.Dispose();
            throw;
        }
    }

    /// <summary>Starts sshd again (after <see cref="Stop"/>) on the same port with the same keys.</summary>
    public void Start()
    {
        lock (_gate)
        {
            if (_process is { HasExited: false })
                return;
            _acceptedBeforeRestart += _process is null ? 0 : CountAccepted();
            if (_process is not null)
                File.Move(LogPath, LogPath + "." + Guid.NewGuid().ToString("N"));
            var psi = new ProcessStartInfo("/bin/sh")
            {
                UseShellExecute = false,
                RedirectStandardInput = true,
            };
            // exec keeps the pid: the Process we hold is sshd itself, so Kill() hits only our server.
            psi.ArgumentList.Add("-c");
            psi.ArgumentList.Add("exec /usr/sbin/sshd -D -e -f \"$0\" 2>>\"$1\"");
            psi.ArgumentList.Add(_dir.Combine("sshd_config"));
            psi.ArgumentList.Add(LogPath);
            _process = Process.Start(psi) ?? throw new InvalidOperationException("could not start /usr/sbin/sshd");
        }
    }

    /// <summary>Kills sshd; established connections drop with it (their per-connection children die on SIGHUP/EOF).</summary>
    public void Stop()
    {
        lock (_gate)
        {
            if (_process is null || _process.HasExited)
                return;
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit();
        }
    }

    /// <summary>Stops sshd, and starts it again after <paramref name="outage"/> on a background task.</summary>
    public Task StopForAsync(TimeSpan outage, CancellationToken cancellationToken = default)
    {
        Stop();
        return Task.Run(
            async () =>
            {
                await Task.Delay(outage, cancellationToken);
                Start();
                await WaitUntilListeningAsync(TimeSpan.FromSeconds(20), cancellationToken);
            },
            cancellationToken);
    }

    /// <summary>Waits until a TCP connect to the port succeeds.</summary>
    public async Task WaitUntilListeningAsync(TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                await socket.ConnectAsync(IPAddress.Loopback, Port, cancellationToken);
                return;
            }
            catch (SocketException) when (deadline.Elapsed < timeout)
            {
                if (!IsRunning)
                    throw new InvalidOperationException($"sshd exited while waiting for it to listen on port {Port}: {ReadLog()}");
                await Task.Delay(50, cancellationToken);
            }
            catch (SocketException e)
            {
                throw new TimeoutException($"sshd did not listen on 127.0.0.1:{Port} within {timeout}: {e.Message}; log: {ReadLog()}");
            }
        }
    }

    public string ReadLog()
    {
        try
        {
            using var stream = new FileStream(LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            using var reader = new StreamReader(stream);
            return reader.ReadToEnd();
        }
        catch (FileNotFoundException)
        {
            return "";
        }
    }

    /// <summary>
    /// Rewrites the client key's <c>authorized_keys</c> line as <c>command="FORCED",restrict KEY</c>, as an origin
    /// restricts workers' keys (<c>buildfarm origin-serve</c>). sshd reads the file at each login: new connections only.
    /// </summary>
    public async Task ForceCommandAsync(string forcedCommand)
    {
        if (forcedCommand.Contains('"', StringComparison.Ordinal))
            throw new ArgumentException("a forced command with double quotes would need escaping", nameof(forcedCommand));
        var key = (await File.ReadAllTextAsync(ClientKeyPath + ".pub")).Trim();
        await File.WriteAllTextAsync(_dir.Combine("authorized_keys"), $"command=\"{forcedCommand}\",restrict {key}\n");
    }

    public void Dispose()
    {
        Stop();
        lock (_gate)
            _process?.Dispose();
        _dir.Dispose();
    }

    private int CountAccepted() =>
        ReadLog().Split('\n').Count(line => line.Contains("Accepted publickey", StringComparison.Ordinal));

    private async Task InitialiseAsync(int maxSessions)
    {
        Directory.CreateDirectory(DataDirectory);
        await KeygenAsync(HostKeyPath, "buildfarm-test-host");
        await KeygenAsync(ClientKeyPath, "buildfarm-test-client");
        File.Copy(ClientKeyPath + ".pub", _dir.Combine("authorized_keys"));
        var fingerprint = await NixOracle.RunTextAsync("ssh-keygen", "-l", "-E", "sha256", "-f", HostKeyPath + ".pub");
        // "256 SHA256:abc... comment (ED25519)"
        HostKeyFingerprint = fingerprint.Split(' ')[1];
        var config = $"""
            ListenAddress 127.0.0.1
            Port {Port}
            HostKey {HostKeyPath}
            AuthorizedKeysFile {_dir.Combine("authorized_keys")}
            PidFile {_dir.Combine("sshd.pid")}
            PermitRootLogin prohibit-password
            PubkeyAuthentication yes
            PasswordAuthentication no
            KbdInteractiveAuthentication no
            StrictModes no
            UsePAM no
            MaxSessions {maxSessions}
            MaxStartups 100
            LogLevel VERBOSE
            Subsystem sftp internal-sftp
            """;
        await File.WriteAllTextAsync(_dir.Combine("sshd_config"), config + "\n");
        var check = await ProcessRunner.RunAsync("/usr/sbin/sshd", ["-t", "-f", _dir.Combine("sshd_config")]);
        check.EnsureSuccess("sshd -t (config check)");
    }

    private static async Task KeygenAsync(string path, string comment) =>
        await NixOracle.RunTextAsync("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", path);

    private static int FreeLoopbackPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
