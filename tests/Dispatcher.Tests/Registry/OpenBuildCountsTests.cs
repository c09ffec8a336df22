using BuildFarm.Dispatcher.Lifecycle;
using BuildFarm.Dispatcher.Registry;
using BuildFarm.Messaging.Routing;
using BuildFarm.Testing;

namespace BuildFarm.Dispatcher.Tests.Registry;

/// <summary>The hook's counts read by SQLite equal the same counts over the build records.</summary>
public sealed class OpenBuildCountsTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 5, 10, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task ReadAsync_MixedOpenAndFinishedBuilds_CountsAsTheRecordsDo()
    {
        using var dir = new TempDirectory("open-counts");
        await using var db = await LifecycleDatabase.OpenAsync(dir.Combine("d.db"), CancellationToken.None);
        BuildRecord Build(int i, string system, string[] features, bool trusted, int ageSeconds) =>
            new(Guid.NewGuid(), $"/nix/store/{i:d32}-b{i}.drv", "Derive()", "/nix/store", system, features, ["out"], BuildState.Queued, 1, false, null, null, 0,
                TimeSpan.Zero, TimeSpan.Zero, false, null, null, null, Now.AddSeconds(-ageSeconds), null, null, null, false, trusted);
        var builds = new[]
        {
            Build(0, "x86_64-linux", [], false, 60), Build(1, "x86_64-linux", [], false, 5), Build(2, "x86_64-linux", ["kvm"], false, 30),
            Build(3, "x86_64-linux", [], true, 30), Build(4, "aarch64-linux", [], false, 30), Build(5, "aarch64-linux", [], false, 30),
            Build(6, "x86_64-linux", [], false, 30), Build(7, "x86_64-linux", [], false, 30),
        };
        await db.RunAsync(async s =>
        {
            foreach (var b in builds)
                await BuildTable.InsertAsync(s, b);
            await BuildTable.MarkPublishedAsync(s, builds[2].Id, 1, Now);
            await BuildTable.MarkPublishedAsync(s, builds[4].Id, 1, Now);
            await BuildTable.ClaimAsync(s, builds[4].Id, "w1", Now, Now.AddMinutes(1), null);
            await BuildTable.ClaimAsync(s, builds[5].Id, "w1", Now, Now.AddMinutes(1), null);
            await BuildTable.ClaimAsync(s, builds[6].Id, "w2", Now, Now.AddMinutes(1), null);
            await BuildTable.FinishAsync(s, builds[7].Id, BuildState.Succeeded, null, null, 0, "w2", Now);
        }, CancellationToken.None);
        var records = await db.RunAsync(s => BuildTable.ListAsync(s, "state IN ('queued', 'running')"), CancellationToken.None);

        var read = await db.ReadAsync(s => OpenBuildCounts.ReadAsync(s, Now.AddSeconds(-10)), CancellationToken.None);

        var expected = OpenBuildCounts.Of(records, Now.AddSeconds(-10));
        Assert.Equal(expected.QueuedPerClass.OrderBy(c => c.Key.Key, StringComparer.Ordinal), read.QueuedPerClass.OrderBy(c => c.Key.Key, StringComparer.Ordinal));
        Assert.Equal(expected.RunningPerWorker.OrderBy(w => w.Key, StringComparer.Ordinal), read.RunningPerWorker.OrderBy(w => w.Key, StringComparer.Ordinal));
        // 0 and 3 (trusted) are unconfirmed and older than 10 s; 1 is too young, 2 was confirmed.
        Assert.Equal(2, read.Unconfirmed);
        Assert.Equal(expected.Unconfirmed, read.Unconfirmed);
        Assert.Equal(Now.AddSeconds(-60), read.OldestUnconfirmed);
        Assert.Equal(2, read.RunningPerWorker["w1"]);
        Assert.Equal(2, read.QueuedPerClass[new BuildClass("x86_64-linux", [])]);
    }
}
