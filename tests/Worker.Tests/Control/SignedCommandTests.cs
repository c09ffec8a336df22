using BuildFarm.Contracts.Builds;
using BuildFarm.Contracts.Workers;
using BuildFarm.Messaging.Signing;
using BuildFarm.Store.Signing;
using BuildFarm.Worker.Tests.Consuming;
using BuildFarm.Worker.Tests.Farm;

namespace BuildFarm.Worker.Tests.Control;

/// <summary>Against a real broker: control commands count only when the trusted dispatcher signed them recently.</summary>
public sealed class SignedCommandTests(FarmFixture farm) : IClassFixture<FarmFixture>
{
    [Fact]
    public async Task ControlCommands_UnsignedForgedOrStale_AreRefusedLoggedAndChangeNothing()
    {
        await using var worker = await farm.StartWorkerAsync("guarded", ["guard-linux"]);
        await farm.WaitOnlineAsync("guarded");
        var running = await TestDerivations.ShellAsync(farm.StoreDir, "guard-linux", "/bin/sleep 2; echo done > $out");
        await farm.Publisher.PublishAsync(running, farm.DispatcherKey);
        await farm.Events.WaitForAsync<BuildStarted>(s => s.BuildId == running.BuildId, "start of the build the forgeries aim at");

        var intruder = SigningKey.Generate(farm.DispatcherKey.Name); // the trusted key's name, another key
        var now = DateTimeOffset.UtcNow;
        await farm.Events.PublishAsync(new CancelBuild(running.BuildId, "forged: unsigned", IssuedAt: now));
        await farm.Events.PublishAsync(MessageSignatures.Sign(new CancelBuild(running.BuildId, "forged: wrong key", IssuedAt: now), intruder));
        await farm.Events.PublishAsync(new DrainWorker("guarded", "forged: unsigned", now));
        await farm.Events.PublishAsync(MessageSignatures.Sign(new DrainWorker("guarded", "forged: wrong key", now), intruder));
        // Genuine once, an hour ago: a replay.
        await farm.Events.PublishAsync(MessageSignatures.Sign(new PauseWorker("guarded", "replayed", now.AddHours(-1)), farm.DispatcherKey));

        Assert.IsType<BuildSucceeded>(await farm.Events.WaitForResultAsync(running.BuildId, "the build that forged cancels aimed at"));
        await RejectionTests.WaitUntilAsync(
            () => Task.FromResult(worker.Messages.Count(m => m.StartsWith("Refused ", StringComparison.Ordinal) && m.Contains("control command", StringComparison.Ordinal)) == 5),
            "five refused control commands in the worker's log");
        var refused = worker.Messages.Where(m => m.Contains("control command", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, refused.Count(m => m.Contains("unsigned", StringComparison.Ordinal)));
        Assert.Equal(2, refused.Count(m => m.Contains("bad signature", StringComparison.Ordinal)));
        Assert.Single(refused, m => m.Contains("PauseWorker", StringComparison.Ordinal) && m.Contains("MaxCommandAge", StringComparison.Ordinal));

        // Neither drained nor paused: it takes the next build, and says so in its heartbeat.
        var next = await TestDerivations.ShellAsync(farm.StoreDir, "guard-linux", "echo next > $out");
        await farm.Publisher.PublishAsync(next, farm.DispatcherKey);
        Assert.IsType<BuildSucceeded>(await farm.Events.WaitForResultAsync(next.BuildId, "a build after the forged drain and pause"));
        var beat = await farm.Events.WaitForAsync<WorkerStatusReported>(s => s.WorkerName == "guarded" && s.SentAt > DateTimeOffset.UtcNow.AddSeconds(-1), "a fresh heartbeat");
        Assert.False(beat.Draining);
        Assert.False(beat.Paused);
    }

    [Fact]
    public async Task PauseWorker_SignedByTrustedDispatcher_IsObeyed()
    {
        await using var worker = await farm.StartWorkerAsync("obedient", ["obey-linux"]);
        await farm.WaitOnlineAsync("obedient");
        await farm.SendCommandAsync(new PauseWorker("obedient", "maintenance"));
        var beat = await farm.Events.WaitForAsync<WorkerStatusReported>(s => s.WorkerName == "obedient" && s.Paused, "a heartbeat saying paused");
        Assert.Equal("maintenance", beat.Note);
    }

    [Fact]
    public async Task PauseWorker_SameSignedCommandDeliveredTwice_AppliedOnceAndTheReplayRefused()
    {
        await using var worker = await farm.StartWorkerAsync("replayed", ["replay-linux"]);
        await farm.WaitOnlineAsync("replayed");
        var pause = farm.Signed(new PauseWorker("replayed", "maintenance"));
        await farm.Events.PublishAsync(pause);
        await farm.Events.WaitForAsync<WorkerStatusReported>(s => s.WorkerName == "replayed" && s.Paused, "a heartbeat saying paused");
        await farm.SendCommandAsync(new ResumeWorker("replayed"));
        await farm.Events.WaitForAsync<WorkerStatusReported>(s => s.WorkerName == "replayed" && !s.Paused && s.SentAt > DateTimeOffset.UtcNow.AddSeconds(-1), "a heartbeat saying resumed");

        // The very same signed pause, well within Freshness:MaxCommandAge: a replay.
        await farm.Events.PublishAsync(pause);
        await RejectionTests.WaitUntilAsync(
            () => Task.FromResult(worker.Messages.Any(m => IsRefusedPause(m) && m.Contains("a replay: command", StringComparison.Ordinal))), "the replayed pause to be refused in the log");
        var refusedAt = DateTimeOffset.UtcNow;
        var beat = await farm.Events.WaitForAsync<WorkerStatusReported>(s => s.WorkerName == "replayed" && s.SentAt > refusedAt, "a heartbeat after the replay");
        Assert.False(beat.Paused);
        Assert.Single(worker.Messages, m => m.StartsWith("Paused:", StringComparison.Ordinal));
        Assert.Contains(worker.Messages, m => m.Contains(pause.CommandId!.Value.ToString(), StringComparison.Ordinal));
    }

    [Fact]
    public async Task ControlCommands_WorkerClockAnHourAhead_CancelObeyedReplayAndStaleRefused()
    {
        await using var worker = await farm.StartWorkerAsync("ahead", ["ahead-linux"], clock: new AheadClock(TimeSpan.FromHours(1)));
        await farm.WaitOnlineAsync("ahead");
        // The request (signed, issued now by the dispatcher's clock) tells the worker the dispatcher's clock.
        var running = await TestDerivations.ShellAsync(farm.StoreDir, "ahead-linux", "/bin/sleep 120; echo done > $out");
        await farm.Publisher.PublishAsync(running, farm.DispatcherKey);
        await farm.Events.WaitForAsync<BuildStarted>(s => s.BuildId == running.BuildId, "start of the build to cancel");

        // An hour old by this worker's clock, fresh by the dispatcher's: obeyed.
        await farm.SendCommandAsync(new CancelBuild(running.BuildId, "cancel on a worker whose clock is ahead"));
        await RejectionTests.WaitUntilAsync(
            () => Task.FromResult(worker.Messages.Any(m => m.StartsWith("Build of", StringComparison.Ordinal) && m.Contains("cancelled", StringComparison.Ordinal))),
            "the build to be cancelled");
        Assert.Contains(worker.Messages, m => m.Contains("judged by the dispatcher's clock", StringComparison.Ordinal));

        // Replay protection holds: a pause applied, resumed, then replayed is refused; one issued ten minutes ago too.
        var pause = farm.Signed(new PauseWorker("ahead", "maintenance"));
        await farm.Events.PublishAsync(pause);
        await farm.Events.WaitForAsync<WorkerStatusReported>(s => s.WorkerName == "ahead" && s.Paused, "a heartbeat saying paused");
        await farm.SendCommandAsync(new ResumeWorker("ahead"));
        await RejectionTests.WaitUntilAsync(() => Task.FromResult(worker.Messages.Any(m => m == "Resumed")), "the worker to resume");
        await farm.Events.PublishAsync(pause);
        await farm.Events.PublishAsync(MessageSignatures.Sign(
            new PauseWorker("ahead", "stale", DateTimeOffset.UtcNow.AddMinutes(-10), CommandId: Guid.NewGuid()), farm.DispatcherKey));
        await RejectionTests.WaitUntilAsync(
            () => Task.FromResult(worker.Messages.Count(IsRefusedPause) == 2),
            "the replayed and the stale pause to be refused");
        var refused = worker.Messages.Where(IsRefusedPause).ToList();
        Assert.Single(refused, m => m.Contains("a replay: command", StringComparison.Ordinal));
        Assert.Single(refused, m => m.Contains("by the dispatcher's clock as this worker knows it", StringComparison.Ordinal));
        var refusedAt = DateTimeOffset.UtcNow.AddHours(1); // the worker's clock
        var beat = await farm.Events.WaitForAsync<WorkerStatusReported>(s => s.WorkerName == "ahead" && s.SentAt > refusedAt, "a heartbeat after the refusals");
        Assert.False(beat.Paused);
        Assert.DoesNotContain(farm.Events.OfType<BuildSucceeded>(), s => s.BuildId == running.BuildId);
    }

    /// <summary>Serilog renders the command's name quoted: <c>Refused "PauseWorker" control command: "…"</c>.</summary>
    private static bool IsRefusedPause(string message) =>
        message.StartsWith("Refused ", StringComparison.Ordinal) && message.Contains("PauseWorker", StringComparison.Ordinal) && message.Contains("control command", StringComparison.Ordinal);

    /// <summary>A worker's wall clock running ahead of the machine's (its monotonic clock, timers and delays are the machine's).</summary>
    private sealed class AheadClock(TimeSpan ahead) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => System.GetUtcNow() + ahead;
    }

    [Fact]
    public async Task WorkerEvents_AreSignedByTheWorkersKey_OverTheirFields()
    {
        await using var worker = await farm.StartWorkerAsync("signer", ["signer-linux"]);
        await farm.WaitOnlineAsync("signer");
        var request = await TestDerivations.ShellAsync(farm.StoreDir, "signer-linux", "echo signed; echo hi > $out");
        await farm.Publisher.PublishAsync(request, farm.DispatcherKey);
        var done = Assert.IsType<BuildSucceeded>(await farm.Events.WaitForResultAsync(request.BuildId, "a signed result"));

        var started = farm.Events.OfType<BuildStarted>().Single(s => s.BuildId == request.BuildId);
        var log = farm.Events.OfType<BuildLogEmitted>().First(l => l.BuildId == request.BuildId);
        var beat = farm.Events.OfType<WorkerStatusReported>().First(s => s.WorkerName == "signer");
        foreach (var e in new object[] { started, log, done, beat })
            Assert.Null(MessageSignatures.Problem(e, worker.PublicKey));
        Assert.NotNull(MessageSignatures.Problem(done with { WorkerName = "someone-else" }, worker.PublicKey));
    }
}
