using BuildFarm.Contracts.Builds;
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
    public async Task Run_RequestIssuedFarInTheFuture_RejectedNamingTheClocks()
    {
        await using var worker = await farm.StartWorkerAsync("clock-check", ["future-linux"]);
        await farm.WaitOnlineAsync("clock-check");
        var request = await TestDerivations.ShellAsync(farm.StoreDir, "future-linux", "echo built > $out");
        await farm.Publisher.PublishAsync(request, farm.DispatcherKey, DateTimeOffset.UtcNow.AddHours(1));

        var failed = Assert.IsType<BuildFailed>(await farm.Events.WaitForResultAsync(request.BuildId, "refusal of a request from the future"));
        Assert.Equal(BuildFailureKind.Rejected, failed.Kind);
        Assert.Contains("ClockSkew", failed.Reason, StringComparison.Ordinal);
    }
}
