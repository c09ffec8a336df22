using System.Diagnostics;
using BuildFarm.Contracts.Workers;
using BuildFarm.Dispatcher.Api;

namespace BuildFarm.Dispatcher.Tests.Api.Workers;

public sealed class ProbeRepliesTests
{
    private static WorkerProbed Answer(Guid probe, string worker) =>
        new(probe, worker, "1.0.0", DateTimeOffset.UtcNow, DateTimeOffset.UtcNow, "reachable", "ok");

    [Fact]
    public async Task WaitForAsync_AllAnswered_ReturnsBeforeTheWaitEnds()
    {
        var replies = new ProbeReplies(TimeProvider.System);
        var id = Guid.NewGuid();
        using var round = replies.Open(id);
        var clock = Stopwatch.StartNew();

        var waiting = round.WaitForAsync(["w1", "w2"], TimeSpan.FromSeconds(30), TimeProvider.System, CancellationToken.None);
        replies.Deliver(Answer(id, "w1"));
        replies.Deliver(Answer(Guid.NewGuid(), "w2")); // another probe's answer counts for nothing here
        replies.Deliver(Answer(id, "w2"));
        await waiting.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(["w1", "w2"], round.Answers.Keys.Order(StringComparer.Ordinal));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task WaitForAsync_SilentWorker_ReturnsWhenTheWaitEnds_WithTheAnswersThatCame()
    {
        var replies = new ProbeReplies(TimeProvider.System);
        var id = Guid.NewGuid();
        using var round = replies.Open(id);
        replies.Deliver(Answer(id, "w1"));

        await round.WaitForAsync(["w1", "silent"], TimeSpan.FromMilliseconds(300), TimeProvider.System, CancellationToken.None);

        Assert.Equal(["w1"], round.Answers.Keys);
    }

    [Fact]
    public void Deliver_AfterTheRoundEnded_IsDroppedWithoutThrowing()
    {
        var replies = new ProbeReplies(TimeProvider.System);
        var id = Guid.NewGuid();
        var round = replies.Open(id);
        round.Dispose();

        replies.Deliver(Answer(id, "late"));
        round.Add(Answer(id, "racing"), DateTimeOffset.UtcNow); // the consumer found the round just before it ended

        Assert.Empty(round.Answers);
    }
}
