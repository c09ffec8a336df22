using BuildFarm.Contracts.Builds;
using BuildFarm.Contracts.Workers;
using BuildFarm.Messaging.Routing;
using BuildFarm.Worker.Tests.Consuming;
using BuildFarm.Worker.Tests.Farm;

namespace BuildFarm.Worker.Tests.Lifecycle;

public sealed class LifecycleTests(FarmFixture farm) : IClassFixture<FarmFixture>
{
    [Fact]
    public async Task DrainWorker_WhileBuilding_FinishesRunningBuildTakesNoNewOneAndGoesOffline()
    {
        var worker = await farm.StartWorkerAsync("drainee", ["drain-linux"], slots: 2);
        await using var _ = worker;
        await farm.WaitOnlineAsync("drainee");
        var running = await TestDerivations.ShellAsync(farm.StoreDir, "drain-linux", "/bin/sleep 3; echo done > $out");
        await farm.Publisher.PublishAsync(running, farm.DispatcherKey);
        await farm.Events.WaitForAsync<BuildStarted>(s => s.BuildId == running.BuildId, "start of the build to drain around");

        await farm.Events.PublishAsync(new DrainWorker("drainee", "test drain"));
        await farm.Events.WaitForAsync<WorkerStatusReported>(s => s.WorkerName == "drainee" && s.Draining, "a heartbeat saying draining");
        var late = await TestDerivations.ShellAsync(farm.StoreDir, "drain-linux", "echo late > $out");
        await farm.Publisher.PublishAsync(late, farm.DispatcherKey);

        Assert.IsType<BuildSucceeded>(await farm.Events.WaitForResultAsync(running.BuildId, "the running build to finish during the drain"));
        var offline = await farm.Events.WaitForAsync<WorkerWentOffline>(o => o.WorkerName == "drainee", "WorkerWentOffline after the drain");
        Assert.Equal("drained", offline.Reason);
        await worker.WaitForShutdownAsync(TimeSpan.FromSeconds(30));
        Assert.DoesNotContain(farm.Events.OfType<BuildStarted>(), s => s.BuildId == late.BuildId);
        Assert.Equal(1u, await farm.Publisher.CountAsync(new BuildClass("drain-linux", []).QueueName));
    }

    [Fact]
    public async Task CancelBuild_BuilderWithChildSleep_KillsTheWholeProcessTree()
    {
        var pids = farm.Scratch("cancel");
        await using var worker = await farm.StartWorkerAsync("canceller", ["cancel-linux"]);
        await farm.WaitOnlineAsync("canceller");
        var script = $"echo $$ > {pids}/shell; /bin/sleep 300 & echo $! > {pids}/child; wait";
        var request = await TestDerivations.ShellAsync(farm.StoreDir, "cancel-linux", script);
        await farm.Publisher.PublishAsync(request, farm.DispatcherKey);
        await farm.Events.WaitForAsync<BuildStarted>(s => s.BuildId == request.BuildId, "start of the build to cancel");
        await RejectionTests.WaitUntilAsync(() => Task.FromResult(File.Exists($"{pids}/child") && File.ReadAllText($"{pids}/child").Trim().Length > 0), "the builder to write its child's pid");
        var shell = int.Parse(File.ReadAllText($"{pids}/shell").Trim(), System.Globalization.CultureInfo.InvariantCulture);
        var child = int.Parse(File.ReadAllText($"{pids}/child").Trim(), System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(Alive(shell) && Alive(child), "builder and child run before the cancel");

        await farm.Events.PublishAsync(new CancelBuild(request.BuildId, "test cancel"));
        await RejectionTests.WaitUntilAsync(() => Task.FromResult(!Alive(shell) && !Alive(child)), $"builder {shell} and its child sleep {child} to be gone");
        await RejectionTests.WaitUntilAsync(() => Task.FromResult(worker.Messages.Any(m => m.Contains("cancelled", StringComparison.Ordinal))), "the worker to log the cancellation");
        Assert.DoesNotContain(farm.Events.OfType<BuildSucceeded>(), s => s.BuildId == request.BuildId);
    }

    /// <summary>A pid that exists and is not a zombie.</summary>
    private static bool Alive(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)..][0] != 'Z';
        }
        catch (IOException)
        {
            return false;
        }
    }
}
