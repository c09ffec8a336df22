using BuildFarm.Contracts.Builds;
using BuildFarm.Dispatcher.Lifecycle;

namespace BuildFarm.Dispatcher.Tests.Lifecycle;

public sealed class BuildSignalsTests
{
    [Fact]
    public async Task Next_LogChunkThenFailureCommitted_WakesTheFollowerOfThatBuildOnly()
    {
        await using var h = await LifecycleHarness.CreateAsync();
        await h.HeartbeatAsync("w1", LifecycleHarness.Caps("x86_64-linux"));
        var id = await h.SubmitAsync();
        var other = await h.SubmitAsync();
        await h.StartAsync(id, 1, "w1");
        var signals = h.Db.Signals;

        var chunk = signals.Next(id);
        var otherChange = signals.Next(other);
        Assert.False(chunk.IsCompleted);
        await h.Lifecycle.OnLogAsync(new BuildLogEmitted(id, 1, "w1", 1, "line\n"), CancellationToken.None);
        Assert.True(chunk.IsCompletedSuccessfully, "a committed log chunk did not wake the build's follower");
        Assert.False(otherChange.IsCompleted, "another build's follower was woken");

        var end = signals.Next(id);
        Assert.False(end.IsCompleted);
        await h.FailAsync(id, 1, "w1", BuildFailureKind.BuildFailure);
        Assert.True(end.IsCompletedSuccessfully, "the build's end did not wake its follower");
        Assert.Equal(BuildState.Failed, (await h.GetAsync(id))!.State);
    }

    [Fact]
    public async Task Forget_AfterTheFollowerLeaves_NothingKept()
    {
        var signals = new BuildSignals();
        var build = Guid.NewGuid();
        var next = signals.Next(build);

        signals.Forget(build);

        Assert.Equal(0, signals.Waiting);
        Assert.True(next.IsCompleted);
    }
}
