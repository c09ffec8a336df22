using BuildFarm.Contracts.Builds;
using BuildFarm.Contracts.Workers;
using BuildFarm.Testing;
using BuildFarm.Worker.Tests.Farm;

namespace BuildFarm.Worker.Tests.Lifecycle;

/// <summary>The real executable: SIGTERM drains and exits 0; a second SIGTERM aborts running builds.</summary>
public sealed class SignalTests(FarmFixture farm) : IClassFixture<FarmFixture>
{
    private async Task<(WorkerProcess Worker, BuildDerivation Build)> StartBuildingAsync(string name, string system, int seconds)
    {
        var dir = new TempDirectory("proc-" + name);
        var config = WorkerProcess.WriteConfig(dir, farm.Broker.AmqpUri, farm.StoreDir, farm.DispatcherKey.PublicKey, name, system);
        var worker = WorkerProcess.Start(dir, "run", "--config", config);
        await farm.Events.WaitForAsync<WorkerStatusReported>(s => s.WorkerName == name, $"first heartbeat of process {name}; output: {worker.Output}", TimeSpan.FromSeconds(90));
        var build = await TestDerivations.ShellAsync(farm.StoreDir, system, $"/bin/sleep {seconds}; echo done > $out");
        await farm.Publisher.PublishAsync(build, farm.DispatcherKey);
        await farm.Events.WaitForAsync<BuildStarted>(s => s.BuildId == build.BuildId, "start of the build in the worker process");
        return (worker, build);
    }

    [Fact]
    public async Task Sigterm_WhileBuilding_FinishesBuildAnnouncesOfflineAndExitsZero()
    {
        var (worker, build) = await StartBuildingAsync("proc-drain", "sigdrain-linux", 3);
        using var _ = worker;
        await worker.SignalAsync("TERM");
        var result = await farm.Events.WaitForResultAsync(build.BuildId, "the build to finish after SIGTERM");
        Assert.True(result is BuildSucceeded, $"expected BuildSucceeded, got {result}; worker output: {worker.Output}");
        Assert.Equal(0, await worker.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        var offline = await farm.Events.WaitForAsync<WorkerWentOffline>(o => o.WorkerName == "proc-drain", "WorkerWentOffline of the drained process");
        Assert.Equal("drained", offline.Reason);
    }

    [Fact]
    public async Task SigtermTwice_WhileBuilding_AbortsAndReportsInfrastructureFailure()
    {
        var (worker, build) = await StartBuildingAsync("proc-abort", "sigabort-linux", 300);
        using var _ = worker;
        await worker.SignalAsync("TERM");
        await farm.Events.WaitForAsync<WorkerStatusReported>(s => s.WorkerName == "proc-abort" && s.Draining, "a draining heartbeat after the first SIGTERM");
        await worker.SignalAsync("TERM");
        var failed = Assert.IsType<BuildFailed>(await farm.Events.WaitForResultAsync(build.BuildId, "the aborted build's failure"));
        Assert.Equal(BuildFailureKind.Infrastructure, failed.Kind);
        Assert.Equal("worker aborted", failed.Reason);
        await worker.WaitForExitAsync(TimeSpan.FromSeconds(60));
    }

    [Fact]
    public async Task Check_UnreachableBrokerAndMissingKeys_PrintsEachProblemWithFix()
    {
        var dir = new TempDirectory("check");
        var config = WorkerProcess.WriteConfig(dir, $"amqp://guest:guest@127.0.0.1:{FreePort.Next()}/", farm.StoreDir, farm.DispatcherKey.PublicKey, "checked", "check-linux");
        File.Delete(dir.Combine("signing.key"));
        using var worker = WorkerProcess.Start(dir, "check", "--config", config);
        Assert.Equal(1, await worker.WaitForExitAsync(TimeSpan.FromSeconds(90)));
        Assert.Contains("ok   config", worker.Output, StringComparison.Ordinal);
        Assert.Contains("FAIL keys", worker.Output, StringComparison.Ordinal);
        Assert.Contains("signing.key", worker.Output, StringComparison.Ordinal);
        Assert.Contains("FAIL broker", worker.Output, StringComparison.Ordinal);
        Assert.Contains("ok   sandbox", worker.Output, StringComparison.Ordinal);
        Assert.Contains("fix:", worker.Output, StringComparison.Ordinal);
    }
}
