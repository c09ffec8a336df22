using System.Collections.Immutable;
using BuildFarm.Contracts.Builds;
using BuildFarm.Contracts.Workers;
using BuildFarm.Dispatcher.Api;
using BuildFarm.Dispatcher.Graphs;
using BuildFarm.Dispatcher.Lifecycle;
using BuildFarm.Dispatcher.Origin;
using BuildFarm.Dispatcher.Submission;
using BuildFarm.Dispatcher.Tests.Lifecycle;
using BuildFarm.Store.Derivations;
using BuildFarm.Store.Local;
using BuildFarm.Store.Paths;
using BuildFarm.Testing;

namespace BuildFarm.Dispatcher.Tests.Graphs;

/// <summary>The scheduler over a real SQLite file and origin store, with a recording publisher (no broker).</summary>
public sealed class GraphSchedulerTests : IAsyncDisposable
{
    private static readonly WorkerCapabilities Caps = new(["x86_64-linux"], [], [], 4, 1);
    private readonly TempDirectory _dir = new("graph-scheduler");
    private readonly RecordingPublisher _publisher = new();

    [Fact]
    public async Task Tick_AfterDispatcherRestart_ContinuesTheGraphWhereItWas()
    {
        var layout = StoreLayout.Create("/nix/store", _dir.Combine("origin"));
        var (a, b) = await WriteChainAsync(layout);
        Guid graphId;
        await using (var first = await OpenAsync(layout))
        {
            await first.Lifecycle.OnStatusAsync(Status(), CancellationToken.None);
            var (id, error) = await first.Scheduler.CreateAsync(Request(b), CancellationToken.None);
            Assert.True(id.HasValue, error);
            graphId = id.Value;
            Assert.Equal([a.FullPath], _publisher.Published.Select(p => p.DrvPath));
        }

        // A new process: same database, nothing in memory. a succeeds while it was down.
        await using var second = await OpenAsync(layout);
        var published = _publisher.Published.Single();
        await second.Lifecycle.OnStatusAsync(Status(), CancellationToken.None);
        await second.Lifecycle.OnSucceededAsync(new BuildSucceeded(published.BuildId, 1, "w1", [], new PhaseTimings(TimeSpan.Zero, TimeSpan.Zero, TimeSpan.Zero), DateTimeOffset.UtcNow), CancellationToken.None);
        await second.Scheduler.TickAsync(CancellationToken.None);

        Assert.Equal([a.FullPath, b.FullPath], _publisher.Published.Select(p => p.DrvPath));
        var view = await new GraphViews(second.Db).GetAsync(graphId, CancellationToken.None);
        Assert.Equal(["succeeded", "queued"], view!.Nodes.OrderBy(n => n.DrvPath == b.FullPath).Select(n => n.State));
    }

    [Fact]
    public async Task Tick_NodeMarkedSubmittedButBuildLost_SubmittedOnceWithTheSameId()
    {
        var layout = StoreLayout.Create("/nix/store", _dir.Combine("origin"));
        var (a, _) = await WriteChainAsync(layout);
        await using var h = await OpenAsync(layout);
        await h.Lifecycle.OnStatusAsync(Status(), CancellationToken.None);
        var (graphId, error) = await h.Scheduler.CreateAsync(Request(a), CancellationToken.None);
        Assert.True(graphId.HasValue, error);
        var buildId = _publisher.Published.Single().BuildId;

        // As if the dispatcher died between marking the node and inserting the build row.
        // (The build row and its waiter are inserted in one transaction: a crash leaves neither.)
        await h.Db.RunAsync(async s =>
        {
            await s.ExecuteAsync("DELETE FROM build_waiters WHERE build_id = $id", ("$id", buildId.ToString()));
            await s.ExecuteAsync("DELETE FROM builds WHERE id = $id", ("$id", buildId.ToString()));
        }, CancellationToken.None);
        await h.Scheduler.TickAsync(CancellationToken.None);
        await h.Scheduler.TickAsync(CancellationToken.None);

        Assert.Equal([buildId, buildId], _publisher.Published.Select(p => p.BuildId));
        Assert.NotNull(await h.Db.RunAsync(s => BuildTable.GetAsync(s, buildId), CancellationToken.None));
    }

    [Fact]
    public async Task Create_DerivationAnotherGraphIsBuilding_FollowsThatBuildInsteadOfBuildingItTwice()
    {
        var layout = StoreLayout.Create("/nix/store", _dir.Combine("origin"));
        var (a, b) = await WriteChainAsync(layout);
        await using var h = await OpenAsync(layout);
        await h.Lifecycle.OnStatusAsync(Status(), CancellationToken.None);
        var (first, error1) = await h.Scheduler.CreateAsync(Request(b), CancellationToken.None);
        var (second, error2) = await h.Scheduler.CreateAsync(Request(a), CancellationToken.None);
        Assert.True(first.HasValue && second.HasValue, error1 ?? error2);
        var build = _publisher.Published.Single();

        await h.Lifecycle.OnSucceededAsync(new BuildSucceeded(build.BuildId, 1, "w1", [], new PhaseTimings(TimeSpan.Zero, TimeSpan.Zero, TimeSpan.Zero), DateTimeOffset.UtcNow), CancellationToken.None);
        await h.Scheduler.TickAsync(CancellationToken.None);

        Assert.Equal([a.FullPath, b.FullPath], _publisher.Published.Select(p => p.DrvPath));
        var views = new GraphViews(h.Db);
        Assert.Equal("succeeded", (await views.GetAsync(second.Value, CancellationToken.None))!.State);
        Assert.Equal(1L, await h.Db.RunAsync(async s => (await s.QueryAsync("SELECT count(*) FROM builds WHERE drv_path = $d", r => r.GetInt64(0), ("$d", a.FullPath))).Single(), CancellationToken.None));
    }

    [Fact]
    public async Task Cancel_BuildAnotherRunningGraphFollows_KeepsItForThatGraph()
    {
        var layout = StoreLayout.Create("/nix/store", _dir.Combine("origin"));
        var (a, b) = await WriteChainAsync(layout);
        await using var h = await OpenAsync(layout);
        await h.Lifecycle.OnStatusAsync(Status(), CancellationToken.None);
        var (first, _) = await h.Scheduler.CreateAsync(Request(b), CancellationToken.None);
        var (second, _) = await h.Scheduler.CreateAsync(Request(a), CancellationToken.None);
        var build = _publisher.Published.Single().BuildId;

        Assert.True(await h.Scheduler.CancelAsync(first!.Value, "test", CancellationToken.None));

        Assert.Equal("queued", (await h.Db.RunAsync(s => BuildTable.GetAsync(s, build), CancellationToken.None))!.State);
        Assert.Equal("running", (await new GraphViews(h.Db).GetAsync(second!.Value, CancellationToken.None))!.State);
    }

    [Fact]
    public async Task Sweeper_DependencyEnds_DependentSubmittedWithoutWaitingForThePeriodicTick()
    {
        var layout = StoreLayout.Create("/nix/store", _dir.Combine("origin"));
        var (a, b) = await WriteChainAsync(layout);
        await using var h = await OpenAsync(layout);
        await h.Lifecycle.OnStatusAsync(Status(), CancellationToken.None);
        var (graphId, error) = await h.Scheduler.CreateAsync(Request(b), CancellationToken.None);
        Assert.True(graphId.HasValue, error);
        // One tick at start-up, the next in ten minutes: only a build's end can advance the graph within the test.
        using var sweeper = new GraphSweeper(h.Scheduler, h.Db.Signals, TimeProvider.System, TimeSpan.FromMinutes(10));
        await sweeper.StartAsync(CancellationToken.None);
        await Task.Delay(200);
        Assert.Equal([a.FullPath], _publisher.Published.Select(p => p.DrvPath));

        var built = _publisher.Published.Single();
        await h.Lifecycle.OnSucceededAsync(new BuildSucceeded(built.BuildId, 1, "w1", [], new PhaseTimings(TimeSpan.Zero, TimeSpan.Zero, TimeSpan.Zero), DateTimeOffset.UtcNow), CancellationToken.None);
        var until = DateTime.UtcNow.AddSeconds(20);
        while (_publisher.Published.Count < 2 && DateTime.UtcNow < until)
            await Task.Delay(10);
        await sweeper.StopAsync(CancellationToken.None);

        Assert.Equal([a.FullPath, b.FullPath], _publisher.Published.Select(p => p.DrvPath));
    }

    private static GraphRequest Request(StorePath target) => new([target.FullPath], false, new SubmitSettings(0, false, TimeSpan.Zero, TimeSpan.Zero));

    private static WorkerStatusReported Status() => new("w1", Caps, [], 0, 1L << 30, "test", false, false, null, DateTimeOffset.UtcNow);

    private static async Task<(StorePath A, StorePath B)> WriteChainAsync(StoreLayout layout)
    {
        var a = new DerivationSpec { Name = "a", System = "x86_64-linux", Builder = "/bin/sh" };
        var b = new DerivationSpec
        {
            Name = "b", System = "x86_64-linux", Builder = "/bin/sh",
            InputDrvs = ImmutableSortedDictionary.Create<string, DerivationSpecInput>(StringComparer.Ordinal).Add("a", new DerivationSpecInput(null, a, [])),
        };
        var store = await LocalStore.OpenAsync(layout);
        var compiler = new DerivationSpecCompiler(layout.StoreDir, (_, _) => throw new InvalidOperationException("no external inputs"));
        var compiledB = await compiler.CompileAsync(b, CancellationToken.None);
        await new DrvStoreWriter(store).WriteAsync(compiler.Compiled, CancellationToken.None);
        return (compiledB.Derivation.InputDrvs.Keys.Single(), compiledB.DrvPath);
    }

    private async Task<Harness> OpenAsync(StoreLayout layout)
    {
        var db = await LifecycleDatabase.OpenAsync(_dir.Combine("dispatcher.db"), CancellationToken.None);
        var lifecycle = new BuildLifecycle(db, _publisher, new RecordingControl(), TimeProvider.System, LifecycleSettings.Default);
        var origin = new OriginStore(layout, TimeProvider.System);
        var scheduler = new GraphScheduler(db, new GraphExpander(origin), origin, new BuildSubmitter(lifecycle, origin, null), lifecycle, TimeProvider.System);
        return new Harness(db, lifecycle, origin, scheduler);
    }

    public ValueTask DisposeAsync()
    {
        _dir.Dispose();
        return ValueTask.CompletedTask;
    }

    private sealed record Harness(LifecycleDatabase Db, BuildLifecycle Lifecycle, OriginStore Origin, GraphScheduler Scheduler) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            Scheduler.Dispose();
            Origin.Dispose();
            await Db.DisposeAsync();
        }
    }
}
