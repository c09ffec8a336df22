using System.Diagnostics;

namespace BuildFarm.Testing;

/// <summary>
/// A private RabbitMQ node (Debian's rabbitmq-server) on free loopback ports in a temp dir, started without the
/// Debian wrapper. <see cref="StopAsync"/> / <see cref="StartAsync"/> restart the same node with its data, for
/// broker-outage tests. Only this node's own process tree is ever killed.
/// </summary>
public sealed class RabbitMqServer : IAsyncDisposable
{
    private const string ServerBin = "/usr/lib/rabbitmq/bin/rabbitmq-server";
    private const string CtlBin = "/usr/lib/rabbitmq/bin/rabbitmqctl";
    private readonly TempDirectory _dir = new("rabbit");
    private readonly Dictionary<string, string> _env;
    private Process? _process;

    /// <param name="consumerTimeout">The broker-wide consumer timeout, when not the default.</param>
    /// <param name="management">Whether to enable the management plugin on a port of its own.</param>
    /// <param name="sharedHome">HOME shared with other nodes (its Erlang cookie lets them cluster); null: a private one.</param>
    /// <param name="tls">When set, the node's only AMQP listener is TLS with this server certificate.</param>
    internal RabbitMqServer(TimeSpan? consumerTimeout, bool management, string? sharedHome = null, TestCertificates? tls = null)
    {
        Tls = tls;
        NodeName = $"bf{Guid.NewGuid():N}"[..14] + "@localhost";
        Port = FreePort.Next();
        var distPort = FreePort.Next();
        ManagementPort = management ? FreePort.Next() : 0;
        var home = sharedHome ?? _dir.Combine("home");
        Directory.CreateDirectory(home);
        // With TLS the only AMQP listener is the TLS one on Port: no plain listener at all.
        var conf = tls is null
            ? new List<string> { $"listeners.tcp.default = 127.0.0.1:{Port}", "loopback_users = none" }
            :
            [
                "listeners.tcp = none", $"listeners.ssl.default = 127.0.0.1:{Port}", "loopback_users = none",
                $"ssl_options.cacertfile = {tls.CaFile}", $"ssl_options.certfile = {tls.ServerCertFile}",
                $"ssl_options.keyfile = {tls.ServerKeyFile}", "ssl_options.verify = verify_none", "ssl_options.fail_if_no_peer_cert = false",
            ];
        if (consumerTimeout is { } t)
            conf.Add($"consumer_timeout = {(long)t.TotalMilliseconds}");
        if (management)
            conf.Add($"management.tcp.port = {ManagementPort}\nmanagement.tcp.ip = 127.0.0.1");
        File.WriteAllLines(_dir.Combine("rabbitmq.conf"), conf);
        File.WriteAllText(_dir.Combine("enabled_plugins"), management ? "[rabbitmq_management].\n" : "[].\n");
        _env = new Dictionary<string, string>
        {
            ["HOME"] = home,
            ["RABBITMQ_NODENAME"] = NodeName,
            ["RABBITMQ_NODE_PORT"] = Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["RABBITMQ_DIST_PORT"] = distPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["RABBITMQ_MNESIA_BASE"] = _dir.Combine("mnesia"),
            ["RABBITMQ_LOG_BASE"] = _dir.Combine("log"),
            ["RABBITMQ_ENABLED_PLUGINS_FILE"] = _dir.Combine("enabled_plugins"),
            ["RABBITMQ_CONFIG_FILE"] = _dir.Combine("rabbitmq"),
        };
    }

    public string NodeName { get; }

    public int Port { get; }

    /// <summary>Whether this node's process runs (false once killed or stopped, until started again).</summary>
    public bool IsRunning => _process is { HasExited: false };

    public int ManagementPort { get; }

    /// <summary>The CA and server certificate of a TLS-only node (null: a plain node).</summary>
    public TestCertificates? Tls { get; }

    /// <summary>AMQP URI for the default guest user.</summary>
    public string AmqpUri => UriFor("guest:guest");

    /// <summary>The URI with <paramref name="userInfo"/> (<c>user</c> or <c>user:password</c>): amqps:// on a TLS node.</summary>
    public string UriFor(string userInfo) => $"{(Tls is null ? "amqp" : "amqps")}://{userInfo}@127.0.0.1:{Port}/";

    /// <summary>Starts a node; <paramref name="consumerTimeout"/> lowers the broker-wide consumer timeout; with
    /// <paramref name="tls"/> its only listener is TLS on <see cref="Port"/>, with that server certificate.</summary>
    public static async Task<RabbitMqServer> StartNewAsync(TimeSpan? consumerTimeout = null, bool management = false, TestCertificates? tls = null, CancellationToken cancellationToken = default)
    {
        var server = new RabbitMqServer(consumerTimeout, management, tls: tls);
        await server.StartAsync(cancellationToken);
        return server;
    }

    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        var psi = new ProcessStartInfo(ServerBin) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var (k, v) in _env)
            psi.Environment[k] = v;
        _process = Process.Start(psi) ?? throw new InvalidOperationException("could not start rabbitmq-server");
        _process.OutputDataReceived += (_, _) => { };
        _process.ErrorDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        // await_startup fails at once while the node has not registered with epmd yet: poll until it answers.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        while (true)
        {
            var result = await CtlAsync(["await_startup", "--timeout", "60"], TimeSpan.FromSeconds(90), cancellationToken);
            if (result.ExitCode == 0)
                return;
            if (_process.HasExited || DateTime.UtcNow > deadline)
                throw new InvalidOperationException($"RabbitMQ node {NodeName} did not start within 90 s: {result.Stderr}{result.Stdout}");
            await Task.Delay(500, cancellationToken);
        }
    }

    /// <summary>Stops the node cleanly (its data stays for <see cref="StartAsync"/>).</summary>
    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        if (_process is null)
            return;
        await CtlAsync(["stop"], TimeSpan.FromSeconds(60), cancellationToken);
        if (!_process.WaitForExit(TimeSpan.FromSeconds(30)))
            _process.Kill(entireProcessTree: true);
        _process.Dispose();
        _process = null;
    }

    /// <summary>Kills the node's process tree at once, as a crash would (its data stays for <see cref="StartAsync"/>).</summary>
    public async Task KillAsync()
    {
        if (_process is null)
            return;
        _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync();
        _process.Dispose();
        _process = null;
    }

    /// <summary>Runs rabbitmqctl against this node (e.g. <c>list_queues name messages</c>).</summary>
    public Task<ProcessResult> CtlAsync(IEnumerable<string> args, TimeSpan? timeout = null, CancellationToken cancellationToken = default) =>
        ProcessRunner.RunAsync(CtlBin, ["-n", NodeName, .. args], environment: _env, timeout: timeout ?? TimeSpan.FromSeconds(60), cancellationToken: cancellationToken);

    public async ValueTask DisposeAsync()
    {
        try
        {
            await StopAsync();
        }
        catch (Exception) when (_process is not null)
        {
            _process.Kill(entireProcessTree: true);
        }

        _dir.Dispose();
    }
}
