using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;

namespace BuildFarm.Soak;

/// <summary>
/// A farm started by <c>./farm up</c> in FARM_DIR (RabbitMQ, the origin's sshd, the dispatcher, the workers): the
/// soak kills its processes and starts them again with the same command lines, environment and pid files as
/// scripts/farm-local.sh, so <c>./farm down</c> still stops exactly what runs.
/// </summary>
internal sealed class Farm(string dir, string bin, IReadOnlyList<string> workers) : IDisposable
{
    public const string Rabbit = "rabbit", Sshd = "sshd", Dispatcher = "dispatcher";
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(10) };

    public string Dir => dir;
    public IReadOnlyList<string> Workers => workers;
    public string Cli => Path.Combine(bin, "buildfarm");
    public string Url => File.ReadAllText(Path.Combine(dir, "dispatcher.url")).Trim();
    public string DatabasePath => Path.Combine(dir, "dispatcher.db");
    public string OriginRoot => Path.Combine(dir, "origin");
    public string WorkerRoot(string worker) => Path.Combine(dir, "workers", worker, "root");
    public string DispatcherKey => Path.Combine(dir, "keys", "dispatcher.sec");
    public string TrustedInputs => Path.Combine(dir, "keys", "trusted-inputs.pub");

    public static string WorkerProcess(string worker) => "worker-" + worker;

    /// <summary>Workers that run inside a network namespace (<c>ip netns exec NS</c>), by name.</summary>
    public Dictionary<string, string> Namespaces { get; } = new(StringComparer.Ordinal);

    /// <summary>Extra environment of a worker's next start (the clock-skew fault's offset), by name.</summary>
    public Dictionary<string, Dictionary<string, string>> WorkerEnvironment { get; } = new(StringComparer.Ordinal);

    public string WorkerConfig(string worker) => Path.Combine(dir, "workers", worker, "worker.json");

    public int SshdPort => Port(Sshd);

    /// <summary>
    /// Stops a worker cleanly (SIGTERM: it drains, i.e. finishes what runs, and says it goes offline), SIGKILL after a
    /// minute; returns its pid.
    /// </summary>
    public async Task<int> StopWorkerAsync(string worker, CancellationToken ct)
    {
        var pid = Pid(WorkerProcess(worker));
        await Shell.SignalAsync(pid, "TERM", ct);
        try
        {
            await WaitAsync(() => !Shell.Alive(pid), TimeSpan.FromMinutes(1), $"{worker} to stop after SIGTERM", ct);
        }
        catch (TimeoutException)
        {
            await KillAsync(WorkerProcess(worker), ct);
        }

        return pid;
    }

    /// <summary>The worker's row in /api/workers, or null when the dispatcher does not answer or does not list it.</summary>
    public async Task<JsonElement?> ApiWorkerAsync(string worker, CancellationToken ct)
    {
        try
        {
            var list = await _http.GetFromJsonAsync<JsonElement>(Url + "/api/workers", ct);
            foreach (var w in list.EnumerateArray())
                if (w.GetProperty("name").GetString() == worker)
                    return w.Clone();
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or JsonException)
        {
        }

        return null;
    }

    public int Pid(string name) =>
        int.TryParse(File.ReadAllText(Path.Combine(dir, "pids", name + ".pid")).Trim(), out var pid) ? pid : 0;

    /// <summary>SIGKILL to the process alone (what the OOM killer or a power cut does to it), not its group.</summary>
    public async Task<int> KillAsync(string name, CancellationToken ct)
    {
        var pid = Pid(name);
        await Shell.SignalAsync(pid, "KILL", ct);
        for (var i = 0; i < 100 && Shell.Alive(pid); i++)
            await Task.Delay(50, ct);
        return pid;
    }

    /// <summary>
    /// Stops the broker hard: SIGKILL to its whole group (beam.smp and its helpers), as a machine crash would.
    /// </summary>
    public async Task KillBrokerAsync(CancellationToken ct)
    {
        var pid = Pid(Rabbit);
        await Shell.SignalGroupAsync(pid, "KILL", ct);
        for (var i = 0; i < 200 && PortOpen(Port(Rabbit)); i++)
            await Task.Delay(50, ct);
    }

    /// <summary>Stops sshd and every session it serves (their transfers break mid-stream), as a stopped origin machine would.</summary>
    public async Task KillSshdAsync(CancellationToken ct)
    {
        var pid = Pid(Sshd);
        var sessions = Shell.Descendants(pid);
        await Shell.SignalAsync(pid, "KILL", ct);
        foreach (var s in sessions)
            await Shell.SignalAsync(s, "KILL", ct);
        for (var i = 0; i < 100 && PortOpen(Port(Sshd)); i++)
            await Task.Delay(50, ct);
    }

    /// <summary>
    /// Restarts the dispatcher (SIGTERM, a clean stop) with another lease: the time a dead worker's build waits before
    /// it is republished, which bounds how fast the soak can go (./farm up uses 20 s).
    /// </summary>
    public async Task SetLeaseAsync(TimeSpan lease, CancellationToken ct)
    {
        var config = Path.Combine(dir, "dispatcher.json");
        var json = System.Text.Json.Nodes.JsonNode.Parse(await File.ReadAllTextAsync(config, ct))!;
        json["Dispatcher"]!["LeaseDuration"] = lease.ToString("c", System.Globalization.CultureInfo.InvariantCulture);
        await File.WriteAllTextAsync(config, json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }), ct);
        var pid = Pid(Dispatcher);
        await Shell.SignalAsync(pid, "TERM", ct);
        await WaitAsync(() => !Shell.Alive(pid), TimeSpan.FromSeconds(30), "the dispatcher to stop", ct);
        await StartAsync(Dispatcher, ct);
    }

    public async Task StartAsync(string name, CancellationToken ct)
    {
        var log = Path.Combine(dir, "logs", name + ".log");
        int pid;
        switch (name)
        {
            case Rabbit:
                pid = await Shell.StartDetachedAsync(["/usr/lib/rabbitmq/bin/rabbitmq-server"], log, ct, RabbitEnvironment());
                await WaitAsync(() => PortOpen(Port(Rabbit)), TimeSpan.FromMinutes(2), "RabbitMQ to listen", ct);
                var ready = await Shell.RunAsync("/usr/lib/rabbitmq/bin/rabbitmqctl",
                    ["-n", File.ReadAllText(Path.Combine(dir, "rabbit", "node")).Trim(), "await_startup", "--timeout", "120"], ct, RabbitEnvironment());
                if (ready.ExitCode != 0)
                    throw new InvalidOperationException($"RabbitMQ did not start: {ready.Tail}");
                break;
            case Sshd:
                pid = await Shell.StartDetachedAsync(["/usr/sbin/sshd", "-D", "-e", "-f", Path.Combine(dir, "ssh", "sshd_config")], log, ct);
                await WaitAsync(() => PortOpen(Port(Sshd)), TimeSpan.FromSeconds(30), "sshd to listen", ct);
                break;
            case Dispatcher:
                pid = await Shell.StartDetachedAsync([Cli, "serve", "--config", Path.Combine(dir, "dispatcher.json")], log, ct);
                await WaitAsync(() => HealthyAsync(ct), TimeSpan.FromMinutes(1), "the dispatcher to answer /health", ct);
                break;
            default:
                var worker = name["worker-".Length..];
                // `ip netns exec` enters the namespace and execs the worker: the pid is still the worker's.
                string[] run = [Path.Combine(bin, "buildfarm-worker"), "run", "--config", WorkerConfig(worker)];
                pid = await Shell.StartDetachedAsync(Namespaces.TryGetValue(worker, out var ns) ? ["ip", "netns", "exec", ns, .. run] : run,
                    log, ct, WorkerEnvironment.GetValueOrDefault(worker));
                break;
        }

        await File.WriteAllTextAsync(Path.Combine(dir, "pids", name + ".pid"), pid + "\n", ct);
    }

    public async Task WaitWorkersOnlineAsync(CancellationToken ct) =>
        await WaitAsync(async () =>
        {
            var online = await OnlineWorkersAsync(ct);
            return workers.All(online.Contains);
        }, TimeSpan.FromMinutes(1), "every worker to be online", ct);

    public async Task<HashSet<string>> OnlineWorkersAsync(CancellationToken ct)
    {
        try
        {
            var list = await _http.GetFromJsonAsync<JsonElement>(Url + "/api/workers", ct);
            return [.. list.EnumerateArray().Where(w => w.GetProperty("online").GetBoolean()).Select(w => w.GetProperty("name").GetString()!)];
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or JsonException)
        {
            return [];
        }
    }

    public async Task<bool> HealthyAsync(CancellationToken ct)
    {
        try
        {
            using var r = await _http.GetAsync(Url + "/health", ct);
            return r.IsSuccessStatusCode;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            return false;
        }
    }

    private int Port(string name) => int.Parse(File.ReadAllText(Path.Combine(dir, name == Rabbit ? "rabbit" : "ssh", "port")).Trim(), System.Globalization.CultureInfo.InvariantCulture);

    private static bool PortOpen(int port)
    {
        try
        {
            using var c = new TcpClient();
            c.Connect("127.0.0.1", port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private Dictionary<string, string> RabbitEnvironment()
    {
        var r = Path.Combine(dir, "rabbit");
        string Read(string f) => File.ReadAllText(Path.Combine(r, f)).Trim();
        return new()
        {
            ["HOME"] = Path.Combine(r, "home"), ["RABBITMQ_NODENAME"] = Read("node"), ["RABBITMQ_NODE_PORT"] = Read("port"),
            ["RABBITMQ_DIST_PORT"] = Read("dist-port"), ["RABBITMQ_MNESIA_BASE"] = Path.Combine(r, "mnesia"),
            ["RABBITMQ_LOG_BASE"] = Path.Combine(r, "log"), ["RABBITMQ_ENABLED_PLUGINS_FILE"] = Path.Combine(r, "enabled_plugins"),
            ["RABBITMQ_CONFIG_FILE"] = Path.Combine(r, "rabbitmq"),
        };
    }

    public static Task WaitAsync(Func<bool> condition, TimeSpan limit, string what, CancellationToken ct) =>
        WaitAsync(() => Task.FromResult(condition()), limit, what, ct);

    public static async Task WaitAsync(Func<Task<bool>> condition, TimeSpan limit, string what, CancellationToken ct)
    {
        var until = DateTime.UtcNow + limit;
        while (!await condition())
        {
            if (DateTime.UtcNow > until)
                throw new TimeoutException($"waited {limit} for {what}");
            await Task.Delay(100, ct);
        }
    }

    public void Dispose() => _http.Dispose();
}
