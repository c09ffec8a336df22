using System.Collections.Concurrent;
using BuildFarm.Contracts.Builds;
using BuildFarm.Dispatcher.Events;
using BuildFarm.Dispatcher.Lifecycle;
using BuildFarm.Dispatcher.Metrics;
using BuildFarm.Dispatcher.Tests.Lifecycle;

namespace BuildFarm.Dispatcher.Tests.Events;

/// <summary>
/// Imports run in lanes off the event queue: a success is pending (acked, held by its row) until its import's
/// verdict commits; a slow import holds back neither other imports nor leases, and a restart resumes it.
/// </summary>
public sealed class ResultImportsTests
{
    private static readonly OriginEndpoint Origin = new("origin.example", 22, "buildfarm", "SHA256:x", "buildfarm origin-serve");
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task TryDefer_SlowImport_OtherBuildImportsWhileItWaits()
    {
        var importer = new GatedImporter();
        await using var h = await LifecycleHarness.CreateAsync(importer: importer);
        var slow = await RunningBuildAsync(h, "w1");
        var fast = await RunningBuildAsync(h, "w2");
        importer.Hold(slow);
        var imports = new ResultImports(h.Lifecycle, new EventObserver(h.Db, h.Time), h.Time, lanes: 2);
        await imports.StartAsync(CancellationToken.None);
        try
        {
            Assert.True(await imports.TryDeferAsync(Success(h, slow, "w1"), CancellationToken.None));
            await importer.WaitStartedAsync(slow);
            Assert.True(await imports.TryDeferAsync(Success(h, fast, "w2"), CancellationToken.None));

            await WaitStateAsync(h, fast, BuildState.Succeeded);
            Assert.Equal(BuildState.Running, (await h.GetAsync(slow))!.State);

            importer.Release(slow);
            await WaitStateAsync(h, slow, BuildState.Succeeded);
            Assert.Empty(await h.Lifecycle.PendingResultsAsync(CancellationToken.None));
            Assert.Single(await h.AttemptsAsync(slow), a => a.Outcome == "succeeded");
        }
        finally
        {
            importer.ReleaseAll();
            await imports.StopAsync(CancellationToken.None);
        }
    }

    [Fact]
    public async Task Pending_LeaseRunsOutAndWorkerLeaves_NotLostNorRepublished()
    {
        await using var h = await LifecycleHarness.CreateAsync(importer: new GatedImporter());
        var id = await RunningBuildAsync(h, "w1");
        var published = h.Publisher.Published.Count;

        Assert.True(await h.Lifecycle.DeferSucceededAsync(Success(h, id, "w1"), CancellationToken.None));
        h.Time.Advance(LifecycleSettings.Default.LeaseDuration * 3);
        Assert.Equal(0, await h.Lifecycle.SweepLeasesAsync(CancellationToken.None));
        await h.Lifecycle.OnWentOfflineAsync(new Contracts.Workers.WorkerWentOffline("w1", "stopped", h.Time.GetUtcNow()), CancellationToken.None);

        var b = (await h.GetAsync(id))!;
        Assert.Equal((BuildState.Running, 1), (b.State, b.Attempt));
        Assert.Equal(published, h.Publisher.Published.Count);
        Assert.DoesNotContain(await h.AttemptsAsync(id), a => a.Outcome == "lost");
    }

    [Fact]
    public async Task Restart_PendingResult_ResumedAndImportedOnce()
    {
        var importer = new GatedImporter();
        await using var h = await LifecycleHarness.CreateAsync(importer: importer);
        var id = await RunningBuildAsync(h, "w1");
        var success = Success(h, id, "w1");
        // Recorded and acked, then the dispatcher stopped before any lane ran: only the row holds the result.
        Assert.True(await h.Lifecycle.DeferSucceededAsync(success, CancellationToken.None));
        Assert.Single(await h.Lifecycle.PendingResultsAsync(CancellationToken.None));

        var imports = new ResultImports(h.Lifecycle, new EventObserver(h.Db, h.Time), h.Time, lanes: 2);
        await imports.StartAsync(CancellationToken.None);
        try
        {
            // The broker redelivers the same event too (it was acked, but a redelivery must not import twice).
            await imports.TryDeferAsync(success, CancellationToken.None);
            await WaitStateAsync(h, id, BuildState.Succeeded);
            Assert.Equal(1, importer.Calls(id));
            Assert.Empty(await h.Lifecycle.PendingResultsAsync(CancellationToken.None));
        }
        finally
        {
            await imports.StopAsync(CancellationToken.None);
        }
    }

    [Fact]
    public async Task TryDefer_NoOriginInputs_HandledInline()
    {
        await using var h = await LifecycleHarness.CreateAsync(importer: new GatedImporter());
        await h.HeartbeatAsync("w1", LifecycleHarness.Caps("x86_64-linux"));
        var id = await h.SubmitAsync();
        await h.StartAsync(id, 1, "w1");

        Assert.False(await h.Lifecycle.DeferSucceededAsync(Success(h, id, "w1"), CancellationToken.None));
        Assert.Empty(await h.Lifecycle.PendingResultsAsync(CancellationToken.None));
    }

    private static async Task<Guid> RunningBuildAsync(LifecycleHarness h, string worker)
    {
        await h.HeartbeatAsync(worker, LifecycleHarness.Caps("x86_64-linux"));
        var result = await h.Lifecycle.SubmitAsync(LifecycleHarness.Request() with { Origin = Origin, InputClosure = [] }, CancellationToken.None);
        var id = result.BuildId!.Value;
        await h.StartAsync(id, 1, worker);
        return id;
    }

    private static BuildSucceeded Success(LifecycleHarness h, Guid id, string worker) =>
        new(id, 1, worker, [new BuiltOutput("out", "/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-hello", "sha256:x", 8, [], [worker + ":sig"])],
            new PhaseTimings(TimeSpan.Zero, TimeSpan.Zero, TimeSpan.Zero), h.Time.GetUtcNow());

    private static async Task WaitStateAsync(LifecycleHarness h, Guid id, string state)
    {
        var deadline = DateTime.UtcNow + Patience;
        while ((await h.GetAsync(id))!.State != state)
        {
            Assert.True(DateTime.UtcNow < deadline, $"build {id} did not become {state} within {Patience}");
            await Task.Delay(20);
        }
    }

    /// <summary>Accepts every import; one marked with <see cref="Hold"/> waits until released.</summary>
    private sealed class GatedImporter : IOutputImporter
    {
        private readonly ConcurrentDictionary<Guid, TaskCompletionSource> _held = new();
        private readonly ConcurrentDictionary<Guid, TaskCompletionSource> _started = new();
        private readonly ConcurrentDictionary<Guid, int> _calls = new();

        public void Hold(Guid id) => _held[id] = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Release(Guid id) => _held[id].TrySetResult();

        public void ReleaseAll()
        {
            foreach (var t in _held.Values)
                t.TrySetResult();
        }

        public int Calls(Guid id) => _calls.GetValueOrDefault(id);

        public Task WaitStartedAsync(Guid id) => Started(id).Task.WaitAsync(Patience);

        public async Task<string?> ImportAsync(BuildSucceeded e, string drvPath, string drvText, CancellationToken cancellationToken)
        {
            _calls.AddOrUpdate(e.BuildId, 1, (_, n) => n + 1);
            Started(e.BuildId).TrySetResult();
            if (_held.TryGetValue(e.BuildId, out var gate))
                await gate.Task.WaitAsync(cancellationToken);
            return null;
        }

        public void Discard(Guid buildId, int attempt)
        {
        }

        private TaskCompletionSource Started(Guid id) => _started.GetOrAdd(id, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
    }
}
