using BuildFarm.Contracts.Builds;
using BuildFarm.Dispatcher.Lifecycle;
using BuildFarm.Dispatcher.Metrics;
using BuildFarm.Dispatcher.Tests.Lifecycle;

namespace BuildFarm.Dispatcher.Tests.Metrics;

/// <summary>A success's phase timings are written in its verdict's transaction, and stay best effort there.</summary>
public sealed class PhaseTimingsTests
{
    [Fact]
    public async Task Succeeded_RecorderInVerdictTransaction_VerdictAndTimingsStored()
    {
        await using var h = await LifecycleHarness.CreateAsync();
        var e = await StartedSuccessAsync(h);

        await new EventObserver(h.Db, h.Time).SucceededAsync(e, (record, ct) => h.Lifecycle.OnSucceededAsync(e, ct, record: record), CancellationToken.None);

        Assert.Equal(BuildState.Succeeded, (await h.GetAsync(e.BuildId))!.State);
        var phases = Assert.Single(await h.Db.RunAsync(s => AttemptPhaseTable.ListAsync(s, e.BuildId), CancellationToken.None));
        Assert.Equal(TimeSpan.FromSeconds(7), phases.Build);
        Assert.Equal("w1", phases.Worker);
    }

    [Fact]
    public async Task Succeeded_RecorderFails_VerdictCommittedWithoutTimings()
    {
        await using var h = await LifecycleHarness.CreateAsync();
        var e = await StartedSuccessAsync(h);
        // The timings' table gone: the recorder's insert fails inside the verdict's transaction.
        await h.Db.RunAsync(s => s.ExecuteAsync("DROP TABLE attempt_phases"), CancellationToken.None);

        await new EventObserver(h.Db, h.Time).SucceededAsync(e, (record, ct) => h.Lifecycle.OnSucceededAsync(e, ct, record: record), CancellationToken.None);

        var b = (await h.GetAsync(e.BuildId))!;
        Assert.Equal(BuildState.Succeeded, b.State);
        Assert.Equal("succeeded", Assert.Single(await h.AttemptsAsync(e.BuildId)).Outcome);
    }

    private static async Task<BuildSucceeded> StartedSuccessAsync(LifecycleHarness h)
    {
        await h.HeartbeatAsync("w1", LifecycleHarness.Caps("x86_64-linux"));
        var id = await h.SubmitAsync();
        await h.StartAsync(id, 1, "w1");
        return new BuildSucceeded(id, 1, "w1", [new BuiltOutput("out", "/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-hello", "sha256:x", 8, [], ["w:sig"])],
            new PhaseTimings(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(7), TimeSpan.Zero), h.Time.GetUtcNow());
    }
}
