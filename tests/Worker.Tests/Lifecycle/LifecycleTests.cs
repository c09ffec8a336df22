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

        await farm.SendCommandAsync(new DrainWorker("drainee", "test drain"));
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
        // The builder may run in the sandbox's own PID namespace, where $$ and $! mean nothing on the host: the
        // processes are found on the host by a marker in their command lines (sleep sums its arguments).
        var marker = "0.000" + Random.Shared.Next(100_000, 999_999).ToString(System.Globalization.CultureInfo.InvariantCulture);
        var pids = farm.Scratch("cancel");
        await using var worker = await farm.StartWorkerAsync("canceller", ["cancel-linux"]);
        await farm.WaitOnlineAsync("canceller");
        var script = $"/bin/busybox sleep 300 {marker} & echo started > {pids}/child; wait";
        var request = await TestDerivations.ShellAsync(farm.StoreDir, "cancel-linux", script);
        await farm.Publisher.PublishAsync(request, farm.DispatcherKey);
        await farm.Events.WaitForAsync<BuildStarted>(s => s.BuildId == request.BuildId, "start of the build to cancel");
        await RejectionTests.WaitUntilAsync(() => Task.FromResult(File.Exists($"{pids}/child") && Marked(marker).Count >= 2), "the builder and its child sleep to run");
        var before = Marked(marker);

        await farm.SendCommandAsync(new CancelBuild(request.BuildId, "test cancel"));
        await RejectionTests.WaitUntilAsync(() => Task.FromResult(Marked(marker).Count == 0), $"builder and child sleep (pids {string.Join(", ", before)}) to be gone");
        await RejectionTests.WaitUntilAsync(() => Task.FromResult(worker.Messages.Any(m => m.Contains("cancelled", StringComparison.Ordinal))), "the worker to log the cancellation");
        Assert.DoesNotContain(farm.Events.OfType<BuildSucceeded>(), s => s.BuildId == request.BuildId);
    }

    /// <summary>Live host processes whose command line contains <paramref name="marker"/>.</summary>
    private static List<int> Marked(string marker)
    {
        var found = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), System.Globalization.CultureInfo.InvariantCulture, out var pid))
                continue;
            try
            {
                if (File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' ').Contains(marker, StringComparison.Ordinal) && Alive(pid))
                    found.Add(pid);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
            }
        }

        return found;
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
