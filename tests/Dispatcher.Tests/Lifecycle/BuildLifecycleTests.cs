using BuildFarm.Contracts.Builds;
using BuildFarm.Contracts.Workers;
using BuildFarm.Dispatcher.Lifecycle;

namespace BuildFarm.Dispatcher.Tests.Lifecycle;

public sealed class BuildLifecycleTests
{
    private static readonly WorkerCapabilities X86 = LifecycleHarness.Caps("x86_64-linux", ["kvm"]);

    [Fact]
    public async Task Submit_NoCapableWorkerEverSeen_RefusedNamingSystemFeaturesAndMachines()
    {
        await using var h = await LifecycleHarness.CreateAsync();
        await h.HeartbeatAsync("w1", X86);
        var result = await h.Lifecycle.SubmitAsync(LifecycleHarness.Request("aarch64-linux", ["big-parallel"]), CancellationToken.None);
        Assert.Null(result.BuildId);
        Assert.Contains("aarch64-linux", result.RefusedBecause, StringComparison.Ordinal);
        Assert.Contains("big-parallel", result.RefusedBecause, StringComparison.Ordinal);
        Assert.Contains("w1 (systems x86_64-linux; features kvm", result.RefusedBecause, StringComparison.Ordinal);
        Assert.Empty(h.Publisher.Published);
    }

    [Fact]
    public async Task Submit_MandatoryFeatureNotRequested_Refused()
    {
        await using var h = await LifecycleHarness.CreateAsync();
        await h.HeartbeatAsync("bench", LifecycleHarness.Caps("x86_64-linux", ["kvm"], ["benchmark"]));
        var result = await h.Lifecycle.SubmitAsync(LifecycleHarness.Request("x86_64-linux", ["kvm"]), CancellationToken.None);
        Assert.Contains("mandatory benchmark", result.RefusedBecause, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Submit_WaitForCapacity_QueuedAndPublished()
    {
        await using var h = await LifecycleHarness.CreateAsync();
        var id = await h.SubmitAsync("aarch64-linux", wait: true);
        var b = await h.GetAsync(id);
        Assert.Equal(BuildState.Queued, b!.State);
        Assert.True(b.Published);
        Assert.Single(h.Publisher.Published, p => p.BuildId == id && p.Attempt == 1);
    }

    [Fact]
    public async Task Started_SecondWorkerClaimsSameAttempt_FirstWinsSecondIsCancelled()
    {
        await using var h = await LifecycleHarness.CreateAsync();
        await h.HeartbeatAsync("w1", X86);
        var id = await h.SubmitAsync();
        await h.StartAsync(id, 1, "w1");
        await h.StartAsync(id, 1, "w2");
        var b = await h.GetAsync(id);
        Assert.Equal(("running", "w1"), (b!.State, b.Worker));
        var cancel = Assert.Single(h.Control.Cancels);
        Assert.Equal(("w2", 1), (cancel.WorkerName, cancel.Attempt));
        Assert.Contains(await h.AttemptsAsync(id), a => a.Worker == "w2" && a.Outcome == "ignored");
    }

    [Fact]
    public async Task Succeeded_DuplicateResult_RecordedAndIgnored()
    {
        await using var h = await LifecycleHarness.CreateAsync();
        await h.HeartbeatAsync("w1", X86);
        var id = await h.SubmitAsync();
        await h.StartAsync(id, 1, "w1");
        await h.SucceedAsync(id, 1, "w1");
        await h.SucceedAsync(id, 1, "w1");
        await h.FailAsync(id, 1, "w1", BuildFailureKind.Infrastructure);
        var b = await h.GetAsync(id);
        Assert.Equal(BuildState.Succeeded, b!.State);
        var attempts = await h.AttemptsAsync(id);
        Assert.Single(attempts, a => a.Outcome == "succeeded");
        Assert.Equal(2, attempts.Count(a => a.Outcome == "ignored"));
        var outputs = await h.Db.RunAsync(s => OutputTable.ListAsync(s, id), CancellationToken.None);
        Assert.Single(outputs);
        Assert.Single(h.Publisher.Published);
    }

    [Fact]
    public async Task SweepLeases_LeaseExpired_RepublishesNextAttemptAndIgnoresLateResult()
    {
        await using var h = await LifecycleHarness.CreateAsync();
        await h.HeartbeatAsync("w1", X86);
        var id = await h.SubmitAsync();
        await h.StartAsync(id, 1, "w1");
        h.Time.Advance(TimeSpan.FromSeconds(10));
        await h.HeartbeatAsync("w1", X86, new RunningBuild(id, 1));
        h.Time.Advance(TimeSpan.FromSeconds(10));
        Assert.Equal(0, await h.Lifecycle.SweepLeasesAsync(CancellationToken.None));
        h.Time.Advance(TimeSpan.FromSeconds(6));
        Assert.Equal(1, await h.Lifecycle.SweepLeasesAsync(CancellationToken.None));
        var b = await h.GetAsync(id);
        Assert.Equal((BuildState.Queued, 2, true), (b!.State, b.Attempt, b.Published));
        Assert.Contains(h.Publisher.Published, p => p.BuildId == id && p.Attempt == 2);
        var lost = Assert.Single(await h.AttemptsAsync(id), a => a.Outcome == "lost");
        Assert.Contains("worker w1 not heard from since 2026-01-01 00:00:10Z", lost.Reason, StringComparison.Ordinal);

        await h.SucceedAsync(id, 1, "w1");
        Assert.Equal(BuildState.Queued, (await h.GetAsync(id))!.State);
        await h.StartAsync(id, 2, "w2");
        await h.SucceedAsync(id, 2, "w2");
        Assert.Equal(("succeeded", "w2"), ((await h.GetAsync(id))!.State, (await h.GetAsync(id))!.Worker));
    }

    [Fact]
    public async Task AttemptLimit_EveryAttemptLost_FailsWithReasonListingAttempts()
    {
        await using var h = await LifecycleHarness.CreateAsync();
        await h.HeartbeatAsync("w1", X86);
        var id = await h.SubmitAsync();
        await h.StartAsync(id, 1, "w1");
        h.Time.Advance(TimeSpan.FromSeconds(16));
        await h.Lifecycle.SweepLeasesAsync(CancellationToken.None);
        await h.StartAsync(id, 2, "w2");
        await h.FailAsync(id, 2, "w2", BuildFailureKind.Infrastructure, "disk full");
        await h.StartAsync(id, 3, "w3");
        await h.FailAsync(id, 3, "w3", BuildFailureKind.Infrastructure, "worker aborted");
        var b = await h.GetAsync(id);
        Assert.Equal(BuildState.Failed, b!.State);
        Assert.Equal(3, h.Publisher.Published.Count);
        Assert.Contains("gave up after 3 attempts (limit 3)", b.FailureReason, StringComparison.Ordinal);
        Assert.Contains("attempt 1 on w1: lost (worker w1 not heard from", b.FailureReason, StringComparison.Ordinal);
        Assert.Contains("attempt 2 on w2: Infrastructure (disk full)", b.FailureReason, StringComparison.Ordinal);
        Assert.Contains("attempt 3 on w3: Infrastructure (worker aborted)", b.FailureReason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Failed_BuildFailure_IsFinalWithoutRetry()
    {
        await using var h = await LifecycleHarness.CreateAsync();
        await h.HeartbeatAsync("w1", X86);
        var id = await h.SubmitAsync();
        await h.StartAsync(id, 1, "w1");
        await h.FailAsync(id, 1, "w1", BuildFailureKind.BuildFailure, "builder exited 1");
        var b = await h.GetAsync(id);
        Assert.Equal((BuildState.Failed, "BuildFailure", 1), (b!.State, b.FailureKind, b.ExitCode));
        Assert.Single(h.Publisher.Published);
    }

    [Fact]
    public async Task PublishUnpublished_BrokerWasDown_PublishesSameAttemptOnce()
    {
        await using var h = await LifecycleHarness.CreateAsync();
        await h.HeartbeatAsync("w1", X86);
        h.Publisher.Failing = true;
        var id = await h.SubmitAsync();
        Assert.False((await h.GetAsync(id))!.Published);
        h.Publisher.Failing = false;
        Assert.Equal(1, await h.Lifecycle.PublishUnpublishedAsync(CancellationToken.None));
        Assert.Equal(0, await h.Lifecycle.PublishUnpublishedAsync(CancellationToken.None));
        var p = Assert.Single(h.Publisher.Published);
        Assert.Equal((id, 1), (p.BuildId, p.Attempt));
    }

    [Fact]
    public async Task WentOffline_RunningBuild_RepublishedAtOnce()
    {
        await using var h = await LifecycleHarness.CreateAsync();
        await h.HeartbeatAsync("w1", X86);
        var id = await h.SubmitAsync();
        await h.StartAsync(id, 1, "w1");
        await h.Lifecycle.OnWentOfflineAsync(new WorkerWentOffline("w1", "aborted", h.Time.GetUtcNow()), CancellationToken.None);
        Assert.Equal((BuildState.Queued, 2), ((await h.GetAsync(id))!.State, (await h.GetAsync(id))!.Attempt));
    }

    [Fact]
    public async Task Cancel_RunningBuild_CancelledAndWorkersTold()
    {
        await using var h = await LifecycleHarness.CreateAsync();
        await h.HeartbeatAsync("w1", X86);
        var id = await h.SubmitAsync();
        await h.StartAsync(id, 1, "w1");
        Assert.True(await h.Lifecycle.CancelAsync(id, "operator", CancellationToken.None));
        Assert.Equal(BuildState.Cancelled, (await h.GetAsync(id))!.State);
        Assert.Single(h.Control.Cancels, c => c.BuildId == id && c.WorkerName == null);
        Assert.False(await h.Lifecycle.CancelAsync(id, "again", CancellationToken.None));
    }

    [Fact]
    public async Task Cancel_BrokerDown_StillCancelled_AndTheWorkersNextHeartbeatGetsTheCancel()
    {
        await using var h = await LifecycleHarness.CreateAsync();
        await h.HeartbeatAsync("w1", X86);
        var id = await h.SubmitAsync();
        await h.StartAsync(id, 1, "w1");
        h.Control.Failing = true;

        Assert.True(await h.Lifecycle.CancelAsync(id, "operator", CancellationToken.None));
        Assert.Equal(BuildState.Cancelled, (await h.GetAsync(id))!.State);
        Assert.Empty(h.Control.Cancels);

        h.Control.Failing = false;
        await h.HeartbeatAsync("w1", X86, new RunningBuild(id, 1));
        var again = Assert.Single(h.Control.Cancels);
        Assert.Equal((id, "w1", 1, "the build was cancelled"), (again.BuildId, again.WorkerName, again.Attempt, again.Reason));
    }

    [Fact]
    public async Task Heartbeat_ListsAttemptWhoseLeaseExpired_ThatAttemptIsCancelledOnlyThere()
    {
        await using var h = await LifecycleHarness.CreateAsync();
        await h.HeartbeatAsync("w1", X86);
        var id = await h.SubmitAsync();
        await h.StartAsync(id, 1, "w1");
        h.Time.Advance(TimeSpan.FromSeconds(30));
        Assert.Equal(1, await h.Lifecycle.SweepLeasesAsync(CancellationToken.None));
        await h.StartAsync(id, 2, "w2");

        // w1 was only slow: it still runs attempt 1, which is now a zombie beside w2's attempt 2.
        await h.HeartbeatAsync("w1", X86, new RunningBuild(id, 1));
        await h.HeartbeatAsync("w2", X86, new RunningBuild(id, 2));

        var cancel = Assert.Single(h.Control.Cancels);
        Assert.Equal((id, "w1", 1), (cancel.BuildId, cancel.WorkerName, cancel.Attempt));
        Assert.Contains("stale", cancel.Reason, StringComparison.Ordinal);
        Assert.Equal((BuildState.Running, "w2", 2), ((await h.GetAsync(id))!.State, (await h.GetAsync(id))!.Worker, (await h.GetAsync(id))!.Attempt));
    }

    [Fact]
    public async Task Heartbeat_SentBeforeTheAttemptsOwnSuccess_NoCancel()
    {
        await using var h = await LifecycleHarness.CreateAsync();
        await h.HeartbeatAsync("w1", X86);
        var id = await h.SubmitAsync();
        await h.StartAsync(id, 1, "w1");
        await h.SucceedAsync(id, 1, "w1");

        await h.HeartbeatAsync("w1", X86, new RunningBuild(id, 1));

        Assert.Empty(h.Control.Cancels);
        Assert.Equal(BuildState.Succeeded, (await h.GetAsync(id))!.State);
    }

    [Fact]
    public async Task Log_BeyondBound_KeepsHeadAndTailWithOneNoteOfTheBytesCut_AndRedeliveryIgnored()
    {
        await using var h = await LifecycleHarness.CreateAsync(LifecycleSettings.Default with { MaxLogBytesPerBuild = 40 });
        await h.HeartbeatAsync("w1", X86);
        var id = await h.SubmitAsync();
        for (var seq = 1; seq <= 20; seq++)
            await h.Lifecycle.OnLogAsync(new BuildLogEmitted(id, 1, "w1", seq, $"line-{seq:00}\n"), CancellationToken.None);
        // Redeliveries, of a chunk that was cut and of one that is kept: neither comes back.
        await h.Lifecycle.OnLogAsync(new BuildLogEmitted(id, 1, "w1", 5, "line-05\n"), CancellationToken.None);
        await h.Lifecycle.OnLogAsync(new BuildLogEmitted(id, 1, "w1", 20, "line-20\n"), CancellationToken.None);

        var chunks = await h.Db.RunAsync(s => LogTable.ReadAsync(s, id, 0, 100), CancellationToken.None);

        // 20 bytes of head (two 8-byte lines), the note, 20 bytes of tail (the last two lines).
        Assert.Equal(["line-01\n", "line-02\n"], chunks.Take(2).Select(c => c.Text));
        Assert.Contains("… 128 bytes cut", chunks[2].Text, StringComparison.Ordinal);
        Assert.Equal(["line-19\n", "line-20\n"], chunks.Skip(3).Select(c => c.Text));
        Assert.True((await h.GetAsync(id))!.LogTruncated);
    }

    [Fact]
    public async Task Log_OneChunkLargerThanTheTail_KeepsItsEnd()
    {
        await using var h = await LifecycleHarness.CreateAsync(LifecycleSettings.Default with { MaxLogBytesPerBuild = 20 });
        await h.HeartbeatAsync("w1", X86);
        var id = await h.SubmitAsync();
        await h.Lifecycle.OnLogAsync(new BuildLogEmitted(id, 1, "w1", 1, "start\n"), CancellationToken.None);
        await h.Lifecycle.OnLogAsync(new BuildLogEmitted(id, 1, "w1", 2, new string('x', 100) + "the end\n"), CancellationToken.None);

        var chunks = await h.Db.RunAsync(s => LogTable.ReadAsync(s, id, 0, 100), CancellationToken.None);

        Assert.Equal("start\n", chunks[0].Text);
        Assert.Contains("… 98 bytes cut", chunks[1].Text, StringComparison.Ordinal);
        Assert.Equal("xxthe end\n", chunks[2].Text);
    }

    [Fact]
    public async Task Log_NulByteInOutput_StoredWholeWithReplacementCharacter()
    {
        await using var h = await LifecycleHarness.CreateAsync();
        await h.HeartbeatAsync("w1", X86);
        var id = await h.SubmitAsync();

        await h.Lifecycle.OnLogAsync(new BuildLogEmitted(id, 1, "w1", 1, "before\0after\n"), CancellationToken.None);
        await h.Lifecycle.OnLogAsync(new BuildLogEmitted(id, 1, "w1", 2, "next line\n"), CancellationToken.None);

        var chunks = await h.Db.RunAsync(s => LogTable.ReadAsync(s, id, 0, 100), CancellationToken.None);
        Assert.Equal(["before\uFFFDafter\n", "next line\n"], chunks.Select(c => c.Text));
    }
}
