using System.Collections.Immutable;
using System.Globalization;
using System.Net.Http.Json;
using BuildFarm.Dispatcher.Api;
using BuildFarm.Dispatcher.Hosting;
using BuildFarm.Store.Derivations;
using BuildFarm.Store.Local;
using BuildFarm.Store.Paths;
using BuildFarm.Store.Signing;
using BuildFarm.Testing;
using Microsoft.AspNetCore.Builder;

namespace BuildFarm.Integration.Tests.Dispatch;

/// <summary>
/// A private RabbitMQ node, an in-process dispatcher with an origin (its store under a temp root, one trusted worker
/// key) and one <see cref="OffloadWorker"/> for system <see cref="System"/>.
/// </summary>
public sealed class OffloadFixture : IAsyncLifetime, IDisposable
{
    public const string System = "x86_64-offload";
    private readonly TempDirectory _dir = new("offload-it");
    private WebApplication? _app;

    public RabbitMqServer Broker { get; private set; } = null!;

    public HttpClient Http { get; private set; } = null!;

    public string Url { get; private set; } = "";

    public StoreLayout Origin { get; private set; } = null!;

    internal LocalStore OriginStore { get; private set; } = null!;

    internal OffloadWorker Worker { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Broker = await RabbitMqServer.StartNewAsync();
        await SecretKeyFiles.WriteAsync(_dir.Combine("dispatcher.sec"), SigningKey.Generate("dispatcher-test").ToString());
        var workerKey = SigningKey.Generate("worker-good-1");
        await File.WriteAllTextAsync(_dir.Combine("workers.pub"), "# trusted workers\n" + workerKey.PublicKey + "\n");
        Origin = StoreLayout.Create("/nix/store", _dir.Combine("origin"));
        OriginStore = await LocalStore.OpenAsync(Origin);
        Url = $"http://127.0.0.1:{FreePort.Next()}";
        _app = DispatcherHost.Build(null, new Dictionary<string, string?>
        {
            ["Broker:Uri"] = Broker.AmqpUri,
            ["Dispatcher:ListenUrl"] = Url,
            ["Dispatcher:DatabasePath"] = _dir.Combine("dispatcher.db"),
            ["Dispatcher:SigningKeyFile"] = _dir.Combine("dispatcher.sec"),
            ["Dispatcher:Root"] = Origin.Root,
            ["Dispatcher:HeartbeatInterval"] = "00:00:00.500",
            ["Dispatcher:LeaseDuration"] = "00:00:05",
            ["Dispatcher:SweepInterval"] = "00:00:00.250",
            ["Dispatcher:Origin:Host"] = "origin.test",
            ["Dispatcher:Origin:Port"] = "2222",
            ["Dispatcher:Origin:User"] = "farm",
            ["Dispatcher:Origin:HostKeyFingerprint"] = "SHA256:" + new string('Q', 43),
            ["Dispatcher:TrustedWorkerKeysFile"] = _dir.Combine("workers.pub"),
        });
        await _app.StartAsync();
        Http = new HttpClient { BaseAddress = new Uri(Url + "/") };
        Worker = await OffloadWorker.StartAsync("offload-w1", Broker.AmqpUri, Origin, workerKey, _dir.Combine("worker-w1"), System);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (!(await Http.GetFromJsonAsync<WorkerView[]>("api/workers"))!.Any(w => w.Name == Worker.Name && w.Online))
        {
            Assert.True(DateTime.UtcNow < deadline, "waited 60 s for the offload worker's first heartbeat");
            await Task.Delay(100);
        }
    }

    /// <summary>A spec for <see cref="System"/>, unique through <paramref name="tag"/>, using <paramref name="inputs"/> (key → spec).</summary>
    public static DerivationSpec Spec(string name, string tag, string mode = "ok", params (string Key, DerivationSpec Spec)[] inputs) => new()
    {
        Name = name,
        System = System,
        Builder = "/bin/sh",
        Args = ["-c", "echo " + name],
        Env = Derivation.EmptyEnv.Add("tag", tag).Add("mode", mode),
        InputDrvs = inputs.Aggregate(
            ImmutableSortedDictionary.Create<string, DerivationSpecInput>(StringComparer.Ordinal),
            (d, i) => d.Add(i.Key, new DerivationSpecInput(null, i.Spec, []))),
    };

    /// <summary>Compiles specs and writes their .drv files (with the input .drvs) into the origin store; returns them by name.</summary>
    internal async Task<Dictionary<string, CompiledDerivation>> AddAsync(params DerivationSpec[] specs)
    {
        var compiler = new DerivationSpecCompiler(Origin.StoreDir, (p, ct) => Task.FromResult(DerivationAterm.Parse(Origin.StoreDir, File.ReadAllBytes(Origin.PhysicalPath(p)), p.Name[..^4])));
        foreach (var spec in specs)
            await compiler.CompileAsync(spec, CancellationToken.None);
        await new DrvStoreWriter(OriginStore).WriteAsync(compiler.Compiled, CancellationToken.None);
        return compiler.Compiled.DistinctBy(c => c.DrvPath).ToDictionary(c => c.Derivation.Name, StringComparer.Ordinal);
    }

    /// <summary>The store path of output <c>out</c> of <paramref name="drv"/>.</summary>
    internal static string Out(CompiledDerivation drv) => drv.Derivation.Outputs["out"].Path!.FullPath;

    public async Task<HttpResponseMessage> SubmitGraphAsync(bool keepGoing, params string[] targets) =>
        await Http.PostAsJsonAsync("api/graphs", new SubmitGraphBody(targets, keepGoing));

    public async Task<Guid> SubmitGraphOkAsync(bool keepGoing, params string[] targets)
    {
        using var response = await SubmitGraphAsync(keepGoing, targets);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, body);
        return (await response.Content.ReadFromJsonAsync<SubmitGraphResponse>())!.Id;
    }

    public async Task<GraphView> GraphAsync(Guid id) => (await Http.GetFromJsonAsync<GraphView>($"api/graphs/{id}"))!;

    /// <summary>Polls until <paramref name="done"/> holds for the graph; the failure shows the graph's nodes.</summary>
    public async Task<GraphView> WaitGraphAsync(Guid id, Func<GraphView, bool> done, string what, TimeSpan? timeout = null)
    {
        var limit = timeout ?? TimeSpan.FromSeconds(120);
        var deadline = DateTime.UtcNow + limit;
        while (true)
        {
            var graph = await GraphAsync(id);
            if (done(graph))
                return graph;
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail(string.Create(CultureInfo.InvariantCulture,
                    $"waited {limit} for graph {id} to be {what}; it is {graph.State}: {string.Join("; ", graph.Nodes.Select(n => $"{n.DrvPath} {n.State} {n.Reason}"))}"));
            }

            await Task.Delay(200);
        }
    }

    public Task<GraphView> WaitGraphFinishedAsync(Guid id) => WaitGraphAsync(id, g => g.State != "running", "finished");

    public async Task<Guid> SubmitBuildOkAsync(string drvPath)
    {
        using var response = await Http.PostAsJsonAsync("api/builds", new SubmitBuildBody(drvPath, null));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, body);
        return (await response.Content.ReadFromJsonAsync<SubmitBuildResponse>())!.Id;
    }

    public async Task<BuildView> WaitBuildFinishedAsync(Guid id)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(120);
        while (true)
        {
            var view = (await Http.GetFromJsonAsync<BuildView>($"api/builds/{id}"))!;
            if (view.State is not ("queued" or "running"))
                return view;
            Assert.True(DateTime.UtcNow < deadline, $"waited 120 s for build {id} to finish; it is {view.State} on {view.Worker}");
            await Task.Delay(200);
        }
    }

    /// <summary>Names of the entries in the origin's physical store directory.</summary>
    public string[] OriginEntries() => [.. Directory.EnumerateFileSystemEntries(Origin.PhysicalStoreDir).Select(Path.GetFileName).Order(StringComparer.Ordinal)!];

    public async Task DisposeAsync()
    {
        Http?.Dispose();
        if (Worker is not null)
            await Worker.DisposeAsync();
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }

        await Broker.DisposeAsync();
        _dir.Dispose();
    }

    public void Dispose() => _dir.Dispose();
}
