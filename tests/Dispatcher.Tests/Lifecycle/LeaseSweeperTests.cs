using BuildFarm.Contracts.Workers;
using BuildFarm.Dispatcher.Lifecycle;

namespace BuildFarm.Dispatcher.Tests.Lifecycle;

public sealed class LeaseSweeperTests
{
    [Fact]
    public async Task ExecuteAsync_FakeClockPastLease_RepublishesOnTick()
    {
        await using var h = await LifecycleHarness.CreateAsync();
        await h.HeartbeatAsync("w1", LifecycleHarness.Caps("x86_64-linux"));
        var id = await h.SubmitAsync();
        await h.StartAsync(id, 1, "w1");
        using var sweeper = new LeaseSweeper(h.Lifecycle, h.Time, TimeSpan.FromSeconds(1));
        await sweeper.StartAsync(CancellationToken.None);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (h.Publisher.Published.Count < 2)
        {
            Assert.True(DateTime.UtcNow < deadline, "waited 30 s for the sweeper to republish attempt 2 after the lease expired");
            h.Time.Advance(TimeSpan.FromSeconds(1));
            await Task.Delay(20);
        }

        await sweeper.StopAsync(CancellationToken.None);
        Assert.Contains(h.Publisher.Published, p => p.BuildId == id && p.Attempt == 2);
        Assert.Contains(await h.AttemptsAsync(id), a => a.Outcome == "lost" && a.Worker == "w1");
        _ = new RunningBuild(id, 1);
    }
}
