using System.Globalization;
using System.Net.Http.Json;
using BuildFarm.Dispatcher.Api;
using BuildFarm.Dispatcher.Hosting;
using BuildFarm.Integration.Tests.Broker;
using BuildFarm.Messaging.Broker;
using BuildFarm.Store.Signing;
using BuildFarm.Testing;
using Microsoft.AspNetCore.Builder;

namespace BuildFarm.Integration.Tests.EndToEnd;

/// <summary>
/// A private RabbitMQ node and an in-process dispatcher (real API, real SQLite, real lease sweeper) that real
/// worker processes (<see cref="RealWorker"/>) connect to. Tests isolate themselves by a system name of their own.
/// Shared with tests/Ui.Tests (compiled in by link, with RealWorker and ShellDerivation) for the live UI tests.
/// </summary>
public sealed class EndToEndFarm : IAsyncLifetime, IDisposable
{
    private readonly TimeSpan _leaseDuration;
    private readonly int _brokerNodes;
    private readonly TempDirectory _dir = new("e2e-farm");
    private readonly SigningKey _dispatcherKey = SigningKey.Generate("dispatcher-e2e-1");
    private WebApplication? _app;

    /// <summary>Workers heartbeat every second; 6 s without one tolerates a loaded machine, yet finds a dead worker soon.</summary>
    public EndToEndFarm()
        : this(TimeSpan.FromSeconds(6))
    {
    }

    /// <summary>A farm whose lease (and online window) is <paramref name="leaseDuration"/>, for tests that kill no worker.</summary>
    /// <param name="leaseDuration">The lease (and online window).</param>
    /// <param name="brokerNodes">1: one private node (<see cref="Broker"/>); more: a cluster of that many
    /// (<see cref="Cluster"/>), and the dispatcher and every worker are configured with all its nodes.</param>
    internal EndToEndFarm(TimeSpan leaseDuration, int brokerNodes = 1)
    {
        _leaseDuration = leaseDuration;
        _brokerNodes = brokerNodes;
    }

    /// <summary>A farm whose dispatcher also reads <paramref name="dispatcherSettings"/> (e.g. <c>Dispatcher:ContractVersions:0</c>).</summary>
    internal EndToEndFarm(TimeSpan leaseDuration, IReadOnlyDictionary<string, string?> dispatcherSettings)
        : this(leaseDuration)
    {
        _dispatcherSettings = dispatcherSettings;
    }

    private readonly IReadOnlyDictionary<string, string?> _dispatcherSettings = new Dictionary<string, string?>();

    /// <summary>
    /// A farm whose dispatcher and workers connect as their own broker users (<c>buildfarm broker definitions</c>,
    /// as <c>./farm up</c> makes them), over TLS to a TLS-only node when <paramref name="tls"/> is given.
    /// </summary>
    internal EndToEndFarm(TimeSpan leaseDuration, bool roleUsers, TestCertificates? tls)
    {
        _leaseDuration = leaseDuration;
        _roleUsers = roleUsers;
        _tls = tls;
    }

    private readonly bool _roleUsers;
    private readonly TestCertificates? _tls;

    private string Secrets => _dir.Combine("broker-users");

    /// <summary>The dispatcher's request signing key (for tests that put a hand-made copy of a request on a queue).</summary>
    internal SigningKey DispatcherKey => _dispatcherKey;

    /// <summary>The single node, or the cluster's first node.</summary>
    internal RabbitMqServer Broker { get; private set; } = null!;

    /// <summary>The cluster, when the farm runs on one.</summary>
    internal RabbitMqCluster? Cluster { get; private set; }

    /// <summary>What the dispatcher's and workers' <c>Broker:Uri</c> is: one node's URI, or every node's.</summary>
    internal string BrokerUri => Cluster?.AmqpUris ?? Broker.AmqpUri;

    private readonly Dictionary<string, SigningKey> _workerKeys = new(StringComparer.Ordinal);

    private string TrustedWorkers => _dir.Combine("trusted-workers.pub");

    /// <summary>A fresh worker key, trusted by the dispatcher from now on.</summary>
    private SigningKey TrustNewWorkerKey(string name)
    {
        // One key per name, as a real worker keeps its key across restarts (a second key for a name is refused).
        lock (_workerKeys)
        {
            if (_workerKeys.TryGetValue(name, out var known))
                return known;
            var key = SigningKey.Generate(name + "-1");
            File.AppendAllText(TrustedWorkers, key.PublicKey + "\n");
            _workerKeys[name] = key;
            return key;
        }
    }

    internal HttpClient Http { get; private set; } = null!;

    /// <summary>The dispatcher's API and UI, e.g. <c>http://127.0.0.1:PORT</c> (no trailing slash).</summary>
    internal string BaseUrl { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        if (_brokerNodes > 1)
        {
            Cluster = await RabbitMqCluster.StartNewAsync(_brokerNodes);
            Broker = Cluster.Nodes[0];
        }
        else
        {
            Broker = await RabbitMqServer.StartNewAsync(tls: _tls);
        }

        // Must hold a key at start-up; each worker's key is added before it starts (the file is re-read on change).
        File.WriteAllText(TrustedWorkers, SigningKey.Generate("nobody-1").PublicKey + "\n");
        await SecretKeyFiles.WriteAsync(_dir.Combine("dispatcher.sec"), _dispatcherKey.ToString());
        var url = $"http://127.0.0.1:{FreePort.Next()}";
        var broker = _roleUsers ? await UserAsync(BrokerDefinitions.Dispatcher()) : new BrokerOptions { Uri = BrokerUri, CaCertificateFile = _tls?.CaFile ?? "" };
        var settings = new Dictionary<string, string?>
        {
            ["Broker:Uri"] = broker.Uri,
            ["Broker:PasswordFile"] = broker.PasswordFile,
            ["Broker:CaCertificateFile"] = broker.CaCertificateFile,
            ["Dispatcher:ListenUrl"] = url,
            ["Dispatcher:DatabasePath"] = _dir.Combine("dispatcher.db"),
            ["Dispatcher:SigningKeyFile"] = _dir.Combine("dispatcher.sec"),
            ["Dispatcher:Root"] = _dir.Combine("origin"),
            ["Dispatcher:HeartbeatInterval"] = "00:00:01",
            ["Dispatcher:LeaseDuration"] = _leaseDuration.ToString("c", CultureInfo.InvariantCulture),
            ["Dispatcher:SweepInterval"] = "00:00:00.250",
            ["Dispatcher:MaxAttempts"] = "5",
            ["Dispatcher:TrustedWorkerKeysFile"] = TrustedWorkers,
        };
        foreach (var (key, value) in _dispatcherSettings)
            settings[key] = value;
        _app = DispatcherHost.Build(null, settings);
        await _app.StartAsync();
        BaseUrl = url;
        Http = new HttpClient { BaseAddress = new Uri(url + "/") };
    }

    /// <summary>Starts <paramref name="names"/> as real worker processes for <paramref name="system"/> and waits until the dispatcher sees them online.</summary>
    internal Task<RealWorker[]> StartWorkersAsync(string system, params string[] names) => StartWorkersAsync(system, 1, names);

    /// <summary>As <see cref="StartWorkersAsync(string, string[])"/>, each worker with <paramref name="slots"/> job slots.</summary>
    internal async Task<RealWorker[]> StartWorkersAsync(string system, int slots, params string[] names)
    {
        var workers = new List<RealWorker>();
        foreach (var n in names)
            workers.Add(RealWorker.Start(n, system, await WorkerBrokerAsync(n), _dispatcherKey.PublicKey, TrustNewWorkerKey(n), slots));

        return await WaitOnlineAsync([.. workers]);
    }

    /// <summary>Starts one worker that speaks <paramref name="contractVersions"/> (simulating an older or newer release), and waits until it is online.</summary>
    internal async Task<RealWorker> StartWorkerAsync(string system, string name, int[] contractVersions, int slots = 1) =>
        (await WaitOnlineAsync([RealWorker.Start(name, system, await WorkerBrokerAsync(name), _dispatcherKey.PublicKey, TrustNewWorkerKey(name), slots,
            contractVersions: contractVersions)]))[0];

    /// <summary>Starts one worker that refuses requests issued more than <paramref name="maxRequestAge"/> ago, and waits until it is online.</summary>
    internal async Task<RealWorker> StartWorkerAsync(string system, string name, TimeSpan maxRequestAge) =>
        (await WaitOnlineAsync([RealWorker.Start(name, system, await WorkerBrokerAsync(name), _dispatcherKey.PublicKey, TrustNewWorkerKey(name), maxRequestAge: maxRequestAge)]))[0];

    /// <summary>The <c>Broker</c> section of worker <paramref name="name"/>: its own user when the farm has role users.</summary>
    private async Task<BrokerOptions> WorkerBrokerAsync(string name) =>
        _roleUsers ? await UserAsync(BrokerDefinitions.Worker(name)) : new BrokerOptions { Uri = BrokerUri, CaCertificateFile = _tls?.CaFile ?? "" };

    /// <summary>Creates <paramref name="user"/> on the broker; the options connect as it.</summary>
    private async Task<BrokerOptions> UserAsync(BrokerUser user)
    {
        await BrokerUsers.CreateAsync(Broker, Secrets, user);
        return BrokerUsers.Options(Broker, Secrets, user.Name);
    }

    /// <summary>
    /// Starts a worker whose sandbox cannot work (<c>Sandbox:Bwrap</c> is <paramref name="missingBwrap"/>) with
    /// <c>AllowUnsandboxed: true</c>, and waits until the dispatcher sees it online.
    /// </summary>
    internal async Task<RealWorker> StartUnsandboxedWorkerAsync(string system, string name, string missingBwrap) =>
        (await WaitOnlineAsync([RealWorker.Start(name, system, BrokerUri, _dispatcherKey.PublicKey, TrustNewWorkerKey(name), bwrap: missingBwrap, allowUnsandboxed: true)]))[0];

    private async Task<RealWorker[]> WaitOnlineAsync(RealWorker[] workers)
    {
        var names = workers.Select(w => w.Name).ToArray();
        try
        {
            await WaitUntilAsync(async () =>
            {
                var online = (await Http.GetFromJsonAsync<List<WorkerView>>("api/workers"))!.Where(w => w.Online).Select(w => w.Name).ToHashSet();
                return names.All(online.Contains);
            }, TimeSpan.FromSeconds(90), () => $"workers {string.Join(", ", names)} to report online; output:\n{string.Join("\n", workers.Select(w => $"--- {w.Name}\n{w.Output}"))}");
        }
        catch
        {
            foreach (var w in workers)
                w.Dispose();
            throw;
        }

        return workers;
    }

    /// <summary>Submits <paramref name="drv"/>; with <paramref name="waitForCapacity"/> it queues even while no capable worker is known.</summary>
    internal async Task<Guid> SubmitAsync(ShellDerivation drv, bool waitForCapacity = false, bool trusted = false)
    {
        using var response = await Http.PostAsJsonAsync("api/builds", new SubmitBuildBody(drv.DrvPath, drv.DrvText, WaitForCapacity: waitForCapacity, Trusted: trusted));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"submit {drv.DrvPath}: {(int)response.StatusCode} {body}");
        return (await response.Content.ReadFromJsonAsync<SubmitBuildResponse>())!.Id;
    }

    internal async Task<BuildView> GetAsync(Guid id) => (await Http.GetFromJsonAsync<BuildView>($"api/builds/{id}"))!;

    internal async Task<WorkerView?> WorkerAsync(string name) =>
        (await Http.GetFromJsonAsync<List<WorkerView>>("api/workers"))!.SingleOrDefault(w => w.Name == name);

    /// <summary>Polls the dispatcher's record until the build runs (claimed by a worker) and returns that record.</summary>
    internal async Task<BuildView> WaitRunningAsync(Guid id, TimeSpan timeout)
    {
        BuildView? view = null;
        await WaitUntilAsync(async () => (view = await GetAsync(id)) is { State: "running", Worker: not null }, timeout,
            () => $"build {id} to run (last: {view?.State} on {view?.Worker}, attempt {view?.Attempt})");
        return view!;
    }

    /// <summary>Polls until every build is finished; the failure names the ones still open.</summary>
    internal async Task<IReadOnlyList<BuildView>> WaitFinishedAsync(IReadOnlyCollection<Guid> ids, TimeSpan timeout)
    {
        List<BuildView> views = [];
        await WaitUntilAsync(async () =>
        {
            views = [];
            foreach (var id in ids)
                views.Add(await GetAsync(id));
            return views.All(v => v.State is not ("queued" or "running"));
        }, timeout, () => $"{ids.Count} builds to finish; still open: {string.Join(", ", views.Where(v => v.State is "queued" or "running").Select(v => $"{v.Id} {v.State} attempt {v.Attempt} on {v.Worker}"))}");
        return views;
    }

    /// <summary>
    /// Polls <paramref name="condition"/>; transient HTTP errors count as "not yet" (the dispatcher may be busy
    /// reconnecting). Fails naming what it waited for.
    /// </summary>
    internal static async Task WaitUntilAsync(Func<Task<bool>> condition, TimeSpan timeout, Func<string> what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            try
            {
                if (await condition())
                    return;
            }
            catch (HttpRequestException)
            {
            }

            if (DateTime.UtcNow > deadline)
                Assert.Fail($"waited {timeout} for {what()}");
            await Task.Delay(200);
        }
    }

    public async Task DisposeAsync()
    {
        Http?.Dispose();
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }

        if (Cluster is not null)
            await Cluster.DisposeAsync();
        else if (Broker is not null)
            await Broker.DisposeAsync();
    }

    public void Dispose() => _dir.Dispose();
}
