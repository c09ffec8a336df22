using BuildFarm.Contracts.Builds;
using BuildFarm.Dispatcher.Lifecycle;
using BuildFarm.Messaging.Routing;

namespace BuildFarm.Dispatcher.Tests.Lifecycle;

/// <summary>Requests go out at a contract version their capable workers announce; a refusal of a version is retried, not lost.</summary>
public sealed class ContractVersionTests
{
    private static readonly LifecycleSettings TwoVersions = LifecycleSettings.Default with { ContractVersions = [2, 3] };

    [Fact]
    public async Task Publish_WorkersAnnounceVersions_RequestGoesOutAtTheNewestAllSpeak()
    {
        await using var h = await LifecycleHarness.CreateAsync(TwoVersions);
        await h.HeartbeatAsync("new", ContractRouting.Declared(LifecycleHarness.Caps("x86_64-linux"), [2, 3]));

        var id = await h.SubmitAsync();

        Assert.Equal(3, h.Publisher.Versions[(id, 1)]);
    }

    [Fact]
    public async Task Failed_VersionRefusalOfAnUnclaimedAttempt_RepublishedAtAVersionTheWorkersSpeak()
    {
        await using var h = await LifecycleHarness.CreateAsync(TwoVersions);
        await h.HeartbeatAsync("new", ContractRouting.Declared(LifecycleHarness.Caps("x86_64-linux"), [2, 3]));
        var id = await h.SubmitAsync();
        Assert.Equal(3, h.Publisher.Versions[(id, 1)]);
        // An old worker joins, and a copy of attempt 1 reached it by another route: it refuses the version it does not speak.
        await h.HeartbeatAsync("old", LifecycleHarness.Caps("x86_64-linux"));

        await h.FailAsync(id, 1, "old", BuildFailureKind.Infrastructure, "refused: request contract version 3 is not one this worker speaks (2): upgrade this worker");

        var b = await h.GetAsync(id);
        Assert.Equal((BuildState.Queued, 2), (b!.State, b.Attempt));
        Assert.Equal(2, h.Publisher.Versions[(id, 2)]);
        var refused = Assert.Single(await h.AttemptsAsync(id), a => a.Attempt == 1);
        Assert.Equal(("old", "Infrastructure"), (refused.Worker, refused.Outcome));
        Assert.Contains("not one this worker speaks", refused.Reason, StringComparison.Ordinal);

        await h.StartAsync(id, 2, "new");
        await h.SucceedAsync(id, 2, "new");
        Assert.Equal(BuildState.Succeeded, (await h.GetAsync(id))!.State);
    }
}
