using BuildFarm.Contracts.Builds;
using BuildFarm.Contracts.Workers;
using BuildFarm.Messaging.Signing;
using BuildFarm.Worker.Tests.Farm;

namespace BuildFarm.Worker.Tests.Consuming;

/// <summary>Against a real broker: a validly signed request is taken only while it is fresh.</summary>
public sealed class FreshnessTests(FarmFixture farm) : IClassFixture<FarmFixture>
{
    [Fact]
    public async Task Run_RequestIssuedLongAgo_RefusedAsExpiredAndTheFreshCopyBuilds()
    {
        await using var worker = await farm.StartWorkerAsync("fresh-only", ["fresh-linux"]);
        await farm.WaitOnlineAsync("fresh-only");
        var request = await TestDerivations.ShellAsync(farm.StoreDir, "fresh-linux", "echo built > $out");
        var issued = DateTimeOffset.UtcNow.AddDays(-2);
        await farm.Publisher.PublishAsync(request, farm.DispatcherKey, issued);

        var expired = await farm.Events.WaitForAsync<BuildRequestExpired>(e => e.BuildId == request.BuildId, "the worker to report the stale request");
        Assert.Equal("fresh-only", expired.WorkerName);
        Assert.Equal(issued.UtcTicks, expired.IssuedAt.UtcTicks);
        Assert.Equal(TimeSpan.FromDays(1), expired.MaxAge);
        Assert.Contains("MaxRequestAge", expired.Reason, StringComparison.Ordinal);
        Assert.Null(MessageSignatures.Problem(expired, worker.PublicKey));
        Assert.DoesNotContain(farm.Events.OfType<BuildStarted>(), s => s.BuildId == request.BuildId);

        // What the dispatcher does on that event: the same attempt, signed afresh.
        await farm.Publisher.PublishAsync(request, farm.DispatcherKey);
        Assert.IsType<BuildSucceeded>(await farm.Events.WaitForResultAsync(request.BuildId, "the republished fresh copy to build"));
    }

    [Fact]
    public async Task Run_RequestIssuedFarInTheFuture_RequeuedAndTheWorkerPausesItselfNamingTheClocks()
    {
        await using var worker = await farm.StartWorkerAsync("clock-check", ["future-linux"]);
        await farm.WaitOnlineAsync("clock-check");
        var request = await TestDerivations.ShellAsync(farm.StoreDir, "future-linux", "echo built > $out");
        await farm.Publisher.PublishAsync(request, farm.DispatcherKey, DateTimeOffset.UtcNow.AddHours(1));

        // The worker's clock is behind the dispatcher's: that is no fault of the request, so the build must not fail
        // (another worker with a good clock takes it); this worker stops claiming and says why in its heartbeat.
        var beat = await farm.Events.WaitForAsync<WorkerStatusReported>(
            e => e.WorkerName == "clock-check" && e.Paused, "a heartbeat of the worker paused for its clock");
        Assert.Contains("paused itself: clock behind the dispatcher's", beat.Note, StringComparison.Ordinal);
        Assert.Contains("ClockSkew", beat.Note, StringComparison.Ordinal);
        Assert.DoesNotContain(farm.Events.OfType<BuildFailed>(), f => f.BuildId == request.BuildId);
        Assert.DoesNotContain(farm.Events.OfType<BuildStarted>(), s => s.BuildId == request.BuildId);
    }
}
