using System.Collections.Concurrent;
using System.Net.Http.Headers;
using BuildFarm.Contracts.Builds;
using BuildFarm.Contracts.Workers;
using System.Collections.Immutable;
using BuildFarm.Dispatcher.Api;
using BuildFarm.Dispatcher.Graphs;
using BuildFarm.Dispatcher.Lifecycle;
using BuildFarm.Dispatcher.Origin;
using BuildFarm.Dispatcher.Submission;
using BuildFarm.Dispatcher.Ui;
using BuildFarm.Store.Derivations;
using BuildFarm.Store.Paths;
using BuildFarm.Store.Signing;
using BuildFarm.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using BuildFarm.Dispatcher.Metrics;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace BuildFarm.Dispatcher.Tests.Ui;

/// <summary>
/// The dispatcher's real web app (API + UI + metrics + auth) on real Kestrel at 127.0.0.1:random, over a temp SQLite
/// DB seeded through the lifecycle's own event handlers. No broker: publishes and worker commands are recorded.
/// Shared with tests/Ui.Tests (compiled in by link).
/// </summary>
internal sealed class UiHarness : IAsyncDisposable
{
    private readonly TempDirectory _dir;
    private readonly WebApplication _app;

    private UiHarness(TempDirectory dir, WebApplication app, LifecycleDatabase db, BuildLifecycle lifecycle, RecordingWorkerControl control)
    {
        _dir = dir;
        _app = app;
        Db = db;
        Lifecycle = lifecycle;
        WorkerControl = control;
        BaseUrl = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
    }

    public string BaseUrl { get; }

    public LifecycleDatabase Db { get; }

    public BuildLifecycle Lifecycle { get; }

    public RecordingWorkerControl WorkerControl { get; }

    /// <summary>The graph scheduler over the harness's origin store (no sweeper: call <see cref="TickGraphsAsync"/>).</summary>
    public GraphScheduler Graphs => _app.Services.GetRequiredService<GraphScheduler>();

    public static async Task<UiHarness> StartAsync(string token = "", IDictionary<string, string?>? config = null, CancellationToken cancellationToken = default)
    {
        var dir = new TempDirectory("ui");
        var db = await LifecycleDatabase.OpenAsync(dir.Combine("dispatcher.db"), cancellationToken);
        var control = new RecordingWorkerControl();
        var lifecycle = new BuildLifecycle(db, new NullPublisher(), new NullControl(), TimeProvider.System, LifecycleSettings.Default);
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        if (config is not null)
            builder.Configuration.AddInMemoryCollection(config);
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton(db);
        builder.Services.AddSingleton(lifecycle);
        var origin = StoreLayout.Create("/nix/store", dir.Combine("origin"));
        builder.Services.AddSingleton(new DerivationIntake(origin));
        builder.Services.AddSingleton(_ => new OriginStore(origin, TimeProvider.System));
        builder.Services.AddSingleton(sp => new BuildSubmitter(lifecycle, sp.GetRequiredService<OriginStore>(), null));
        builder.Services.AddSingleton<IWorkerControl>(control);
        builder.Services.AddSingleton(new UiOptions { Token = token, AllowedHosts = config?.TryGetValue("Ui:AllowedHosts", out var hosts) == true ? hosts ?? "" : "" });
        builder.Services.AddSingleton<EventObserver>();
        builder.Services.AddSingleton(sp => new GraphExpander(sp.GetRequiredService<OriginStore>()));
        builder.Services.AddSingleton<GraphScheduler>();
        // The host's own registration and mapping, after the recording worker control and the token above.
        builder.Services.AddDispatcherApi(builder.Configuration);
        var app = builder.Build();
        app.MapDispatcherApi();
        app.MapUiAssets();
        await app.StartAsync(cancellationToken);
        return new UiHarness(dir, app, db, lifecycle, control);
    }

    /// <summary>Every route the app maps, as (HTTP method, route pattern), read from ASP.NET Core's endpoint table.</summary>
    public IReadOnlyList<(string Method, string Pattern)> Routes() =>
        _app.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .SelectMany(e => (e.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods ?? ["GET"]).Select(m => (m, "/" + e.RoutePattern.RawText!.TrimStart('/'))))
            .Distinct()
            .ToList();

    public HttpClient Client(string? bearer = null)
    {
        var client = new HttpClient { BaseAddress = new Uri(BaseUrl) };
        if (bearer is not null)
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        return client;
    }

    public static WorkerCapabilities Caps(string system, int slots = 2) => new([system], ["kvm"], [], slots, 1.5);

    public Task HeartbeatAsync(string worker, WorkerCapabilities caps, params RunningBuild[] running) => Lifecycle.OnStatusAsync(
        new WorkerStatusReported(worker, caps, running, 0.25, 20L << 30, "0.1.0", false, false, null, DateTimeOffset.UtcNow), CancellationToken.None);

    /// <summary>A heartbeat that says how the worker runs builders (as workers since schema 2 do).</summary>
    public Task HeartbeatAsync(string worker, WorkerCapabilities caps, WorkerIsolation isolation) => Lifecycle.OnStatusAsync(
        new WorkerStatusReported(worker, caps, [], 0.25, 20L << 30, "0.1.0", false, false, null, DateTimeOffset.UtcNow, isolation), CancellationToken.None);

    /// <summary>A heartbeat of a worker that paused itself (or was paused) with <paramref name="note"/>, its clock <paramref name="skew"/> off.</summary>
    public Task PausedHeartbeatAsync(string worker, WorkerCapabilities caps, string note, TimeSpan skew)
    {
        var e = new WorkerStatusReported(worker, caps, [], 0.25, 20L << 30, "0.1.0", false, true, note, DateTimeOffset.UtcNow + skew);
        return _app.Services.GetRequiredService<EventObserver>().HeartbeatAsync(e, ct => Lifecycle.OnStatusAsync(e, ct), CancellationToken.None);
    }

    /// <summary>A heartbeat through the same observer the broker consumer uses (records the worker's clock too).</summary>
    public Task HeartbeatAtAsync(string worker, WorkerCapabilities caps, DateTimeOffset sentAt, string version = "0.1.0") =>
        _app.Services.GetRequiredService<EventObserver>().HeartbeatAsync(
            new WorkerStatusReported(worker, caps, [], 0.25, 20L << 30, version, false, false, null, sentAt),
            ct => Lifecycle.OnStatusAsync(new WorkerStatusReported(worker, caps, [], 0.25, 20L << 30, version, false, false, null, sentAt), ct), CancellationToken.None);

    /// <summary>A success with phase timings, through the observer as the consumer does it.</summary>
    public Task SucceedWithPhasesAsync(Guid id, string worker, PhaseTimings timings, BuiltOutput? output = null)
    {
        var e = new BuildSucceeded(id, 1, worker,
            [output ?? new BuiltOutput("out", "/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-out", "sha256:1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s", 4096, [], ["worker-1:c2ln"])],
            timings, DateTimeOffset.UtcNow);
        return _app.Services.GetRequiredService<EventObserver>().SucceededAsync(e, (record, ct) => Lifecycle.OnSucceededAsync(e, ct, record: record), CancellationToken.None);
    }

    /// <summary>A build of a real (compiled) derivation named <paramref name="name"/>, so a retry can parse it like a fresh submission.</summary>
    public async Task<Guid> SubmitAsync(string name, string system = "x86_64-linux", bool trusted = false)
    {
        var compiled = await new DerivationSpecCompiler(StoreDirectory.Nix, (_, _) => throw new InvalidOperationException("no inputs"))
            .CompileAsync(new DerivationSpec { Name = name, System = system, Builder = "/bin/sh" }, CancellationToken.None);
        var result = await Lifecycle.SubmitAsync(new SubmitRequest(compiled.DrvPath.FullPath, compiled.Aterm, "/nix/store", system,
            [], ["out"], 0, true, TimeSpan.Zero, TimeSpan.Zero, Trusted: trusted), CancellationToken.None);
        return result.BuildId ?? throw new InvalidOperationException(result.RefusedBecause);
    }

    /// <summary>
    /// Writes derivations into the origin store, each named by a key of <paramref name="inputs"/> with the names it
    /// depends on (listed inputs first), and submits a graph of <paramref name="target"/>. Returns the graph id.
    /// </summary>
    public async Task<Guid> CreateGraphAsync(string target, IReadOnlyDictionary<string, string[]> inputs, string system = "x86_64-linux")
    {
        var specs = new Dictionary<string, DerivationSpec>(StringComparer.Ordinal);
        DerivationSpec Spec(string name) => specs.TryGetValue(name, out var known) ? known : specs[name] = new DerivationSpec
        {
            Name = name, System = system, Builder = "/bin/sh",
            InputDrvs = (inputs.TryGetValue(name, out var deps) ? deps : []).Aggregate(
                ImmutableSortedDictionary.Create<string, DerivationSpecInput>(StringComparer.Ordinal),
                (d, dep) => d.Add(dep, new DerivationSpecInput(null, Spec(dep), ["out"]))),
        };
        var origin = _app.Services.GetRequiredService<OriginStore>();
        var compiler = new DerivationSpecCompiler(origin.Layout.StoreDir, (_, _) => throw new InvalidOperationException("no external inputs"));
        var compiled = await compiler.CompileAsync(Spec(target), CancellationToken.None);
        await new DrvStoreWriter((BuildFarm.Store.Local.LocalStore)await origin.OpenAsync(CancellationToken.None)).WriteAsync(compiler.Compiled, CancellationToken.None);
        var (id, error) = await Graphs.CreateAsync(new GraphRequest([compiled.DrvPath.FullPath], false, new SubmitSettings(0, true, TimeSpan.Zero, TimeSpan.Zero)), CancellationToken.None);
        return id ?? throw new InvalidOperationException(error);
    }

    /// <summary>The build of the graph node whose derivation is named <paramref name="name"/> (null while it waits).</summary>
    public async Task<Guid?> GraphNodeBuildAsync(Guid graph, string name) =>
        (await _app.Services.GetRequiredService<GraphViews>().GetAsync(graph, CancellationToken.None))!.Nodes
            .Single(n => n.DrvPath.EndsWith("-" + name + ".drv", StringComparison.Ordinal)).BuildId;

    /// <summary>
    /// Makes the listed workers answer live probes through the same <see cref="ProbeReplies"/> the broker consumer
    /// feeds, each with its clock <c>ClockOffset</c> ahead of the dispatcher's and its answer signed by <c>Key</c>.
    /// </summary>
    public void AnswerProbes(params (string Worker, string OriginStatus, string Detail, TimeSpan ClockOffset, SigningKey? Key)[] answers)
    {
        var replies = _app.Services.GetRequiredService<ProbeReplies>();
        WorkerControl.OnProbe = probe =>
        {
            foreach (var a in answers)
            {
                var received = DateTimeOffset.UtcNow + a.ClockOffset;
                replies.Deliver(new WorkerProbed(probe.ProbeId, a.Worker, "2.0.0", received, received.AddMilliseconds(1), a.OriginStatus, a.Detail,
                    a.Key?.Sign(WorkerProbed.SignedText(probe.ProbeId, a.Worker))));
            }

            return Task.CompletedTask;
        };
    }

    /// <summary>Makes a worker's last heartbeat <paramref name="at"/>, as if it had been silent since.</summary>
    public Task SetLastSeenAsync(string worker, DateTimeOffset at) =>
        Db.RunAsync(s => s.ExecuteAsync("UPDATE workers SET last_seen = $t WHERE name = $n", ("$t", BuildTable.Ms(at)), ("$n", worker)), CancellationToken.None);

    public Task TickGraphsAsync() => Graphs.TickAsync(CancellationToken.None);

    public Task StartBuildAsync(Guid id, string worker, BuildIsolation? isolation = null) =>
        Lifecycle.OnStartedAsync(new BuildStarted(id, 1, worker, DateTimeOffset.UtcNow, isolation), CancellationToken.None);

    public Task LogAsync(Guid id, string worker, long seq, string text) => Lifecycle.OnLogAsync(new BuildLogEmitted(id, 1, worker, seq, text), CancellationToken.None);

    public Task SucceedAsync(Guid id, string worker) => Lifecycle.OnSucceededAsync(new BuildSucceeded(id, 1, worker,
        [new BuiltOutput("out", "/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-out", "sha256:1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s", 4096, [], ["worker-1:c2ln"])],
        new PhaseTimings(TimeSpan.Zero, TimeSpan.Zero, TimeSpan.Zero), DateTimeOffset.UtcNow), CancellationToken.None);

    public Task FailAsync(Guid id, string worker) => Lifecycle.OnFailedAsync(
        new BuildFailed(id, 1, worker, BuildFailureKind.BuildFailure, 1, "builder exited with code 1", "", DateTimeOffset.UtcNow), CancellationToken.None);

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        await Db.DisposeAsync();
        _dir.Dispose();
    }

    private sealed class NullPublisher : IBuildRequestPublisher
    {
        public Task PublishAsync(BuildDerivation request, int contractVersion, CancellationToken cancellationToken) => Task.CompletedTask;
    }

    private sealed class NullControl : IControlPublisher
    {
        public Task CancelBuildAsync(CancelBuild command, CancellationToken cancellationToken) => Task.CompletedTask;
    }
}

internal sealed class RecordingWorkerControl : IWorkerControl
{
    public ConcurrentQueue<string> Commands { get; } = new();

    public Task DrainAsync(string worker, string? note, CancellationToken cancellationToken) => Record($"drain {worker} {note}");

    public Task PauseAsync(string worker, string? note, CancellationToken cancellationToken) => Record($"pause {worker} {note}");

    public Task ResumeAsync(string worker, CancellationToken cancellationToken) => Record($"resume {worker}");

    /// <summary>Set by <see cref="UiHarness.AnswerProbes"/>: plays the workers that answer a live probe.</summary>
    public Func<ProbeWorkers, Task>? OnProbe { get; set; }

    public async Task ProbeAsync(ProbeWorkers probe, CancellationToken cancellationToken)
    {
        await Record($"probe {probe.Origin?.Host}");
        if (OnProbe is not null)
            await OnProbe(probe);
    }

    /// <summary>While set, every command throws as if the broker did not confirm it.</summary>
    public bool Failing { get; set; }

    private Task Record(string command)
    {
        if (Failing)
            throw new IOException("broker did not confirm (test)");
        Commands.Enqueue(command.TrimEnd());
        return Task.CompletedTask;
    }
}
