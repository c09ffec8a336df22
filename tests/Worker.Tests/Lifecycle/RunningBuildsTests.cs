using BuildFarm.Worker.Lifecycle;

namespace BuildFarm.Worker.Tests.Lifecycle;

public sealed class RunningBuildsTests
{
    [Fact]
    public void Claiming_DrainWaitsForAClaimInProgress_EmptiedOnlyAfterItsBuildEnds()
    {
        var running = new RunningBuilds();
        var emptied = 0;
        running.Emptied += () => emptied++;

        var claim = running.Claiming();
        Assert.False(running.IsIdle, "a claim in progress counted as idle: a drain would stop the worker under it");
        using var handle = new RunningBuildHandle(Guid.NewGuid(), 1, "/nix/store/x.drv");
        running.TryAdd(handle);
        claim.Dispose();
        Assert.Equal(0, emptied);
        Assert.False(running.IsIdle);

        running.Remove(handle);

        Assert.True(running.IsIdle);
        Assert.Equal(1, emptied);
    }

    [Fact]
    public void Claiming_ClaimFailsWithNothingRunning_Emptied()
    {
        var running = new RunningBuilds();
        var emptied = 0;
        running.Emptied += () => emptied++;

        using (running.Claiming())
            Assert.False(running.IsIdle);

        Assert.True(running.IsIdle);
        Assert.Equal(1, emptied);
    }
}
