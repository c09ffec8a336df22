using BuildFarm.Contracts.Builds;
using BuildFarm.Dispatcher.Lifecycle;

namespace BuildFarm.Dispatcher.Tests.Lifecycle;

/// <summary>A worker refused a copy of a request as too old: the dispatcher republishes only what is still wanted.</summary>
public sealed class RequestExpiryTests
{
    private static readonly TimeSpan Day = TimeSpan.FromDays(1);

    private static BuildRequestExpired Expired(Guid id, int attempt, DateTimeOffset issuedAt, DateTimeOffset now) =>
        new(id, attempt, "w1", issuedAt, now, "too old", Day);

    [Fact]
    public async Task OnRequestExpired_LastPublishedCopy_RepublishedSameAttemptFreshlySigned()
    {
        await using var h = await LifecycleHarness.CreateAsync();
        var id = await h.SubmitAsync(wait: true);
        var first = Assert.Single(h.Publisher.Published);
        h.Time.Advance(2 * Day);

        await h.Lifecycle.OnRequestExpiredAsync(Expired(id, 1, first.RequestedAt, h.Time.GetUtcNow()), CancellationToken.None);

        Assert.Equal(2, h.Publisher.Published.Count);
        var again = h.Publisher.Published.Last();
        Assert.Equal((id, 1), (again.BuildId, again.Attempt));
        Assert.Equal(h.Time.GetUtcNow(), again.RequestedAt);
        var b = (await h.GetAsync(id))!;
        Assert.True(b.Published);
        Assert.Equal(BuildState.Queued, b.State);
    }

    [Fact]
    public async Task OnRequestExpired_OlderCopyOrMovedOnBuild_Ignored()
    {
        await using var h = await LifecycleHarness.CreateAsync();
        var id = await h.SubmitAsync(wait: true);
        var first = h.Publisher.Published.Single();
        h.Time.Advance(2 * Day);
        await h.Lifecycle.OnRequestExpiredAsync(Expired(id, 1, first.RequestedAt, h.Time.GetUtcNow()), CancellationToken.None);
        h.Time.Advance(2 * Day);

        // A replay of the first copy, refused later: a newer copy is already out.
        await h.Lifecycle.OnRequestExpiredAsync(Expired(id, 1, first.RequestedAt, h.Time.GetUtcNow()), CancellationToken.None);
        Assert.Equal(2, h.Publisher.Published.Count);

        // Claimed meanwhile: the attempt is running, nothing to republish.
        await h.StartAsync(id, 1, "w2");
        await h.Lifecycle.OnRequestExpiredAsync(Expired(id, 1, h.Publisher.Published.Last().RequestedAt, h.Time.GetUtcNow()), CancellationToken.None);
        Assert.Equal(2, h.Publisher.Published.Count);
        Assert.Equal(BuildState.Running, (await h.GetAsync(id))!.State);
    }

    [Fact]
    public async Task OnRequestExpired_BrokerDown_LeftUnpublishedForTheSweep()
    {
        await using var h = await LifecycleHarness.CreateAsync();
        var id = await h.SubmitAsync(wait: true);
        var first = h.Publisher.Published.Single();
        h.Time.Advance(2 * Day);
        h.Publisher.Failing = true;

        await h.Lifecycle.OnRequestExpiredAsync(Expired(id, 1, first.RequestedAt, h.Time.GetUtcNow()), CancellationToken.None);
        Assert.False((await h.GetAsync(id))!.Published);

        h.Publisher.Failing = false;
        Assert.Equal(1, await h.Lifecycle.PublishUnpublishedAsync(CancellationToken.None));
        Assert.Equal(2, h.Publisher.Published.Count);
    }

    [Fact]
    public async Task OnRequestExpired_CopyYoungByTheDispatchersClock_AttemptLostNotRepublishedIntoTheSameRefusal()
    {
        await using var h = await LifecycleHarness.CreateAsync();
        var id = await h.SubmitAsync(wait: true);
        var first = h.Publisher.Published.Single();
        h.Time.Advance(TimeSpan.FromSeconds(5));

        await h.Lifecycle.OnRequestExpiredAsync(Expired(id, 1, first.RequestedAt, h.Time.GetUtcNow()), CancellationToken.None);

        var b = (await h.GetAsync(id))!;
        Assert.Equal(2, b.Attempt);
        var lost = Assert.Single(await h.AttemptsAsync(id), a => a.Attempt == 1);
        Assert.Equal("Infrastructure", lost.Outcome);
        Assert.Contains("clock", lost.Reason, StringComparison.Ordinal);
    }
}
