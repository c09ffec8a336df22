using BuildFarm.Contracts.Builds;
using BuildFarm.Dispatcher.Lifecycle;
using BuildFarm.Testing;

namespace BuildFarm.Dispatcher.Tests.Lifecycle;

/// <summary>The per-minute counts the triggers keep equal a scan of <c>builds</c> after every kind of change.</summary>
public sealed class BuildMinuteTableTests
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 5, 10, 0, 30, TimeSpan.Zero);

    [Fact]
    public async Task Triggers_InsertClaimRequeueFinishEditDelete_CountsEqualAScanOfBuilds()
    {
        using var dir = new TempDirectory("minutes");
        await using var db = await LifecycleDatabase.OpenAsync(dir.Combine("d.db"), CancellationToken.None);
        var ids = Enumerable.Range(0, 8).Select(_ => Guid.NewGuid()).ToArray();
        await db.RunAsync(async s =>
        {
            for (var i = 0; i < ids.Length; i++)
            {
                await BuildTable.InsertAsync(s, new BuildRecord(ids[i], $"/nix/store/{i:d32}-b{i}.drv", "Derive()", "/nix/store", i % 2 == 0 ? "x86_64-linux" : "aarch64-linux",
                    i % 3 == 0 ? ["kvm"] : [], ["out"], BuildState.Queued, 1, false, null, null, 0, TimeSpan.Zero, TimeSpan.Zero, false, null, null, null,
                    T0.AddMinutes(i), null, null, null, false));
            }

            await BuildTable.ClaimAsync(s, ids[0], "w1", T0.AddMinutes(2), T0.AddMinutes(3), null);
            await BuildTable.FinishAsync(s, ids[0], BuildState.Succeeded, null, null, 0, "w1", T0.AddMinutes(4));
            await BuildTable.ClaimAsync(s, ids[1], "w1", T0.AddMinutes(3), T0.AddMinutes(4), null);
            await BuildTable.RequeueAsync(s, ids[1], 2);
            await BuildTable.ClaimAsync(s, ids[1], "w2", T0.AddMinutes(6), T0.AddMinutes(7), null);
            await BuildTable.FinishAsync(s, ids[1], BuildState.Failed, "BuildFailure", "no", 1, "w2", T0.AddMinutes(9));
            await BuildTable.FinishAsync(s, ids[2], BuildState.Cancelled, null, "bye", null, null, T0.AddMinutes(5));
            await BuildTable.ClaimAsync(s, ids[3], "w1", T0.AddMinutes(5), T0.AddMinutes(6), null);
            // Edited by hand (as tests and operators do), then deleted by retention.
            await s.ExecuteAsync("UPDATE builds SET submitted_at = submitted_at - 600000, system = 'i686-linux' WHERE id = $id", ("$id", ids[4].ToString()));
            await s.ExecuteAsync("DELETE FROM build_waiters WHERE build_id = $id", ("$id", ids[5].ToString()));
            await s.ExecuteAsync("DELETE FROM builds WHERE id = $id", ("$id", ids[5].ToString()));
        }, CancellationToken.None);

        var kept = await CountsAsync(db, "SELECT minute, system, features, submitted, started, finished, finished_started, succeeded, failed, cancelled FROM build_minutes");
        var scanned = await CountsAsync(db, """
            SELECT minute, system, features, SUM(a), SUM(b), SUM(c), SUM(d), SUM(e), SUM(f), SUM(g) FROM (
                SELECT submitted_at / 60000 AS minute, system, features, 1 AS a, 0 AS b, 0 AS c, 0 AS d, 0 AS e, 0 AS f, 0 AS g FROM builds
                UNION ALL SELECT started_at / 60000, system, features, 0, 1, 0, 0, 0, 0, 0 FROM builds WHERE started_at IS NOT NULL
                UNION ALL SELECT finished_at / 60000, system, features, 0, 0, 1, started_at IS NOT NULL, state = 'succeeded', state = 'failed', state = 'cancelled' FROM builds WHERE finished_at IS NOT NULL)
            GROUP BY minute, system, features
            """);
        Assert.Equal(scanned, kept);
        // The failure of the retried build: finished, had started, failed (its start counts in minute 6, not 3).
        Assert.Contains($"{BuildTable.Ms(T0.AddMinutes(9)) / 60000}|aarch64-linux||0,0,1,1,0,1,0", kept);
        Assert.Contains($"{BuildTable.Ms(T0.AddMinutes(6)) / 60000}|aarch64-linux||0,1,0,0,0,0,0", kept);
    }

    /// <summary>Rows with any non-zero count, as "minute|system|features|counts…", sorted.</summary>
    private static async Task<List<string>> CountsAsync(LifecycleDatabase db, string sql) =>
        (await db.RunAsync(s => s.QueryAsync(sql, r => (Key: $"{r.GetInt64(0)}|{r.GetString(1)}|{r.GetString(2)}|",
            Counts: string.Join(',', Enumerable.Range(3, 7).Select(r.GetInt64)))), CancellationToken.None))
        .Where(r => r.Counts.Split(',').Any(c => c != "0")).Select(r => r.Key + r.Counts).Order(StringComparer.Ordinal).ToList();
}
