using BuildFarm.Contracts.Builds;
using BuildFarm.Worker.Tests.Farm;

namespace BuildFarm.Worker.Tests.Consuming;

public sealed class SlotTests(FarmFixture farm) : IClassFixture<FarmFixture>
{
    /// <summary>Each build appends "+" when it starts and "-" when it ends to one shared trace file.</summary>
    private static string TracedScript(string trace, int seconds) =>
        $"echo + >> {trace}; /bin/busybox sleep {seconds}; echo - >> {trace}; echo done > $out";

    /// <summary>A trace file every build can append to: each build runs as a build user of its own.</summary>
    private static string SharedTrace(string dir)
    {
        var trace = Path.Combine(dir, "trace");
        File.WriteAllText(trace, "");
        File.SetUnixFileMode(trace, (UnixFileMode)0b110_110_110);
        return trace;
    }

    private static int MaxConcurrent(string trace)
    {
        int running = 0, max = 0;
        foreach (var line in File.ReadAllLines(trace))
        {
            running += line == "+" ? 1 : -1;
            max = Math.Max(max, running);
        }

        return max;
    }

    [Fact]
    public async Task Run_TwoSlotsSixBuilds_NeverMoreThanTwoAtOnce()
    {
        var trace = SharedTrace(farm.Scratch("slots"));
        await using var worker = await farm.StartWorkerAsync("two-slots", ["slots-linux"], slots: 2);
        await farm.WaitOnlineAsync("two-slots");
        var requests = new List<BuildDerivation>();
        for (var i = 0; i < 6; i++)
        {
            var r = await TestDerivations.ShellAsync(farm.StoreDir, "slots-linux", TracedScript(trace, 1));
            requests.Add(r);
            await farm.Publisher.PublishAsync(r, farm.DispatcherKey);
        }

        foreach (var r in requests)
            Assert.IsType<BuildSucceeded>(await farm.Events.WaitForResultAsync(r.BuildId, "slot build result"));
        Assert.True(MaxConcurrent(trace) == 2, "trace: " + string.Join(" ", File.ReadAllLines(trace)));
        Assert.All(farm.Events.OfType<Contracts.Workers.WorkerStatusReported>().Where(s => s.WorkerName == "two-slots"),
            s => Assert.True(s.RunningBuilds.Count <= 2, $"heartbeat listed {s.RunningBuilds.Count} running builds"));
    }

    [Fact]
    public async Task Run_TwoOneSlotWorkersTwoLongBuilds_RunAtOnceOnBoth()
    {
        var trace = SharedTrace(farm.Scratch("pair"));
        await using var a = await farm.StartWorkerAsync("pair-a", ["pair-linux"]);
        await using var b = await farm.StartWorkerAsync("pair-b", ["pair-linux"]);
        await farm.WaitOnlineAsync("pair-a");
        await farm.WaitOnlineAsync("pair-b");
        var first = await TestDerivations.ShellAsync(farm.StoreDir, "pair-linux", TracedScript(trace, 3));
        var second = await TestDerivations.ShellAsync(farm.StoreDir, "pair-linux", TracedScript(trace, 3));
        await farm.Publisher.PublishAsync(first, farm.DispatcherKey);
        await farm.Publisher.PublishAsync(second, farm.DispatcherKey);
        var r1 = Assert.IsType<BuildSucceeded>(await farm.Events.WaitForResultAsync(first.BuildId, "first long build"));
        var r2 = Assert.IsType<BuildSucceeded>(await farm.Events.WaitForResultAsync(second.BuildId, "second long build"));
        Assert.NotEqual(r1.WorkerName, r2.WorkerName);
        Assert.True(MaxConcurrent(trace) == 2, "trace: " + string.Join(" ", File.ReadAllLines(trace)));
    }
}
