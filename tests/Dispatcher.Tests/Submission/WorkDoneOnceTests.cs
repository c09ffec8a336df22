using System.Collections.Immutable;
using BuildFarm.Contracts.Builds;
using BuildFarm.Contracts.Workers;
using BuildFarm.Dispatcher.Api;
using BuildFarm.Dispatcher.Graphs;
using BuildFarm.Dispatcher.Lifecycle;
using BuildFarm.Dispatcher.Metrics;
using BuildFarm.Dispatcher.Origin;
using BuildFarm.Dispatcher.Submission;
using BuildFarm.Dispatcher.Tests.Lifecycle;
using BuildFarm.Dispatcher.Ui;
using BuildFarm.Store.Derivations;
using BuildFarm.Store.Local;
using BuildFarm.Store.Paths;
using BuildFarm.Testing;

namespace BuildFarm.Dispatcher.Tests.Submission;

/// <summary>
/// The same derivation asked for at once by two graphs and a direct submission is built once: one request
/// published, everyone sees that build's result; a waiter that leaves does not cancel it for the others. Real SQLite
/// and origin store, a recording publisher (no broker).
/// </summary>
public sealed class WorkDoneOnceTests : IAsyncDisposable
{
    private static readonly WorkerCapabilities Caps = new(["x86_64-linux"], [], [], 4, 1);
    private readonly TempDirectory _dir = new("work-once");
    private readonly RecordingPublisher _publisher = new();
    private readonly RecordingControl _control = new();

    [Fact]
    public async Task TwoGraphsAndASubmit_ShareADerivation_BuiltOnceAndAllThreeSucceed()
    {
        await using var h = await OpenAsync();
        var (shared, top) = await WriteChainAsync(h.Origin.Layout);
        var (graph1, e1) = await h.Scheduler.CreateAsync(Request(top), CancellationToken.None);
        var (graph2, e2) = await h.Scheduler.CreateAsync(Request(shared), CancellationToken.None);
        Assert.True(graph1.HasValue && graph2.HasValue, e1 ?? e2);
        var submitted = await h.Submitter.SubmitAsync(await IntakeAsync(h, shared), Settings, CancellationToken.None);

        var build = Assert.Single(_publisher.Published);
        Assert.Equal(shared.FullPath, build.DrvPath);
        Assert.Equal((build.BuildId, true), (submitted.BuildId, submitted.Joined));
        Assert.Equal("# TYPE buildfarm_builds_saved_total counter", Line(await MetricsAsync(h), "# TYPE buildfarm_builds_saved_total"));
        Assert.Equal("buildfarm_builds_saved_total{reason=\"joined\"} 2", Line(await MetricsAsync(h), "buildfarm_builds_saved_total{reason=\"joined\"}"));

        await h.Lifecycle.OnSucceededAsync(new BuildSucceeded(build.BuildId, 1, "w1", [], new PhaseTimings(TimeSpan.Zero, TimeSpan.Zero, TimeSpan.Zero), DateTimeOffset.UtcNow), CancellationToken.None);
        await h.Scheduler.TickAsync(CancellationToken.None);

        var graphs = new GraphViews(h.Db);
        Assert.Equal("succeeded", (await graphs.GetAsync(graph2.Value, CancellationToken.None))!.State);
        var nodes = (await graphs.GetAsync(graph1.Value, CancellationToken.None))!.Nodes;
        Assert.Equal("succeeded", nodes.Single(n => n.DrvPath == shared.FullPath).State);
        Assert.Equal("succeeded", (await h.Db.RunAsync(s => BuildTable.GetAsync(s, submitted.BuildId!.Value), CancellationToken.None))!.State);
        // Graph 1 goes on to its own target: the shared derivation was published once, the top one once.
        Assert.Equal([shared.FullPath, top.FullPath], _publisher.Published.Select(p => p.DrvPath));
    }

    [Fact]
    public async Task Leave_OneWaiterOfThree_BuildGoesOnUntilTheLastLeaves()
    {
        await using var h = await OpenAsync();
        var (shared, _) = await WriteChainAsync(h.Origin.Layout);
        var (graph1, _) = await h.Scheduler.CreateAsync(Request(shared), CancellationToken.None);
        var (graph2, _) = await h.Scheduler.CreateAsync(Request(shared), CancellationToken.None);
        var submitted = await h.Submitter.SubmitAsync(await IntakeAsync(h, shared), Settings, CancellationToken.None);
        var id = Assert.Single(_publisher.Published).BuildId;

        await h.Scheduler.CancelAsync(graph1!.Value, "user", CancellationToken.None);
        Assert.False(await h.Lifecycle.LeaveAsync(id, submitted.Waiter, "user", CancellationToken.None));
        Assert.Equal("queued", (await h.Db.RunAsync(s => BuildTable.GetAsync(s, id), CancellationToken.None))!.State);
        Assert.Empty(_control.Cancels);

        await h.Scheduler.CancelAsync(graph2!.Value, "user", CancellationToken.None);
        Assert.Equal("cancelled", (await h.Db.RunAsync(s => BuildTable.GetAsync(s, id), CancellationToken.None))!.State);
    }

    [Fact]
    public async Task Submit_OutputsAlreadyValidInOrigin_NothingBuiltAndSucceeded()
    {
        await using var h = await OpenAsync();
        var (shared, _) = await WriteChainAsync(h.Origin.Layout);
        var intake = await IntakeAsync(h, shared);
        var output = intake.Drv.Outputs["out"].Path!;
        var store = await LocalStore.OpenAsync(h.Origin.Layout);
        await File.WriteAllTextAsync(h.Origin.Layout.PhysicalPath(output), "built before\n");
        await store.RegisterOutputAsync(output, [], shared, CancellationToken.None);

        var result = await h.Submitter.SubmitAsync(intake, Settings, CancellationToken.None);

        Assert.Empty(_publisher.Published);
        var b = await h.Db.RunAsync(s => BuildTable.GetAsync(s, result.BuildId!.Value), CancellationToken.None);
        Assert.Equal(("succeeded", 1), (b!.State, b.Attempt));
        var recorded = Assert.Single(await h.Db.RunAsync(s => OutputTable.ListAsync(s, b.Id), CancellationToken.None));
        Assert.Equal(output.FullPath, recorded.Path);
        Assert.Equal("buildfarm_builds_saved_total{reason=\"already_valid\"} 1", Line(await MetricsAsync(h), "buildfarm_builds_saved_total{reason=\"already_valid\"}"));
    }

    private static readonly SubmitSettings Settings = new(0, false, TimeSpan.Zero, TimeSpan.Zero);

    private static GraphRequest Request(StorePath target) => new([target.FullPath], false, Settings);

    private static string Line(string text, string prefix) => text.Split('\n').Single(l => l.StartsWith(prefix, StringComparison.Ordinal));

    private static Task<string> MetricsAsync(Harness h)
    {
        var workers = new WorkerViews(h.Lifecycle, TimeProvider.System, new UiOptions());
        return MetricsEndpoint.RenderAsync(h.Db, workers, new ClassViews(h.Lifecycle, workers, TimeProvider.System), CancellationToken.None);
    }

    private static async Task<IntakeResult> IntakeAsync(Harness h, StorePath drvPath)
    {
        var (drv, text, error) = await h.Origin.ReadDerivationAsync(drvPath, CancellationToken.None);
        Assert.True(drv is not null, error);
        return new IntakeResult(drvPath.FullPath, text!, drv.System, drv.RequiredSystemFeatures, [.. drv.Outputs.Keys], drv);
    }

    private static async Task<(StorePath Shared, StorePath Top)> WriteChainAsync(StoreLayout layout)
    {
        var shared = new DerivationSpec { Name = "shared", System = "x86_64-linux", Builder = "/bin/sh" };
        var top = new DerivationSpec
        {
            Name = "top", System = "x86_64-linux", Builder = "/bin/sh",
            InputDrvs = ImmutableSortedDictionary.Create<string, DerivationSpecInput>(StringComparer.Ordinal).Add("shared", new DerivationSpecInput(null, shared, [])),
        };
        var store = await LocalStore.OpenAsync(layout);
        var compiler = new DerivationSpecCompiler(layout.StoreDir, (_, _) => throw new InvalidOperationException("no external inputs"));
        var compiledTop = await compiler.CompileAsync(top, CancellationToken.None);
        await new DrvStoreWriter(store).WriteAsync(compiler.Compiled, CancellationToken.None);
        return (compiledTop.Derivation.InputDrvs.Keys.Single(), compiledTop.DrvPath);
    }

    private async Task<Harness> OpenAsync()
    {
        var layout = StoreLayout.Create("/nix/store", _dir.Combine("origin"));
        var db = await LifecycleDatabase.OpenAsync(_dir.Combine("dispatcher.db"), CancellationToken.None);
        var lifecycle = new BuildLifecycle(db, _publisher, _control, TimeProvider.System, LifecycleSettings.Default);
        await lifecycle.OnStatusAsync(new WorkerStatusReported("w1", Caps, [], 0, 1L << 30, "test", false, false, null, DateTimeOffset.UtcNow), CancellationToken.None);
        var origin = new OriginStore(layout, TimeProvider.System);
        var submitter = new BuildSubmitter(lifecycle, origin, null);
        var scheduler = new GraphScheduler(db, new GraphExpander(origin), origin, submitter, lifecycle, TimeProvider.System);
        return new Harness(db, lifecycle, origin, submitter, scheduler);
    }

    public ValueTask DisposeAsync()
    {
        _dir.Dispose();
        return ValueTask.CompletedTask;
    }

    private sealed record Harness(LifecycleDatabase Db, BuildLifecycle Lifecycle, OriginStore Origin, BuildSubmitter Submitter, GraphScheduler Scheduler) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            Scheduler.Dispose();
            Origin.Dispose();
            await Db.DisposeAsync();
        }
    }
}
