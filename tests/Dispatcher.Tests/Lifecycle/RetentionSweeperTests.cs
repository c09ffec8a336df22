using BuildFarm.Contracts.Builds;
using BuildFarm.Dispatcher.Api;
using BuildFarm.Dispatcher.Graphs;
using BuildFarm.Dispatcher.Lifecycle;
using BuildFarm.Testing;
using Microsoft.Data.Sqlite;

namespace BuildFarm.Dispatcher.Tests.Lifecycle;

/// <summary>Retention of finished builds over a real SQLite file, a fake clock and batches of one.</summary>
public sealed class RetentionSweeperTests
{
    private static readonly Contracts.Workers.WorkerCapabilities X86 = LifecycleHarness.Caps("x86_64-linux");

    [Fact]
    public async Task RunOnce_OldFinishedBuilds_DeletedWithAttemptsAndLogs_LiveAndRecentKept_TotalsUnchanged()
    {
        await using var h = await LifecycleHarness.CreateAsync();
        await h.HeartbeatAsync("w1", X86);
        var old1 = await FinishAsync(h, 'a');
        var old2 = await FinishAsync(h, 'b');
        h.Time.Advance(TimeSpan.FromDays(10));
        var recent = await FinishAsync(h, 'c');
        var queued = await SubmitAsync(h, 'd');
        var finishedBefore = await CountAsync(h, "SELECT value FROM metric_counters WHERE name = 'builds_finished' AND label = 'succeeded'");

        var result = await Sweeper(h, maxAge: TimeSpan.FromDays(5), keep: 0).RunOnceAsync(CancellationToken.None);

        Assert.Equal(2, result.Builds);
        Assert.Equal(2, result.LogRows);
        Assert.Null(await h.GetAsync(old1));
        Assert.Null(await h.GetAsync(old2));
        Assert.Empty(await h.AttemptsAsync(old1));
        Assert.Equal(0, await CountAsync(h, $"SELECT COUNT(*) FROM logs WHERE build_id IN ('{old1}', '{old2}')"));
        Assert.Equal(0, await CountAsync(h, $"SELECT COUNT(*) FROM outputs WHERE build_id = '{old1}'"));
        Assert.NotNull(await h.GetAsync(recent));
        Assert.Equal(1, await CountAsync(h, $"SELECT COUNT(*) FROM logs WHERE build_id = '{recent}'"));
        Assert.Equal(BuildState.Queued, (await h.GetAsync(queued))!.State);
        // The totals of /metrics stay; the gauge of rows per state follows the rows.
        Assert.Equal(finishedBefore, await CountAsync(h, "SELECT value FROM metric_counters WHERE name = 'builds_finished' AND label = 'succeeded'"));
        Assert.Equal(1, await CountAsync(h, "SELECT value FROM metric_counters WHERE name = 'builds' AND label = 'succeeded'"));
    }

    [Fact]
    public async Task RunOnce_MoreFinishedBuildsThanTheCount_OldestGoFirst()
    {
        await using var h = await LifecycleHarness.CreateAsync();
        await h.HeartbeatAsync("w1", X86);
        var ids = new List<Guid>();
        foreach (var c in "abcd")
        {
            ids.Add(await FinishAsync(h, c));
            h.Time.Advance(TimeSpan.FromMinutes(1));
        }

        var result = await Sweeper(h, maxAge: TimeSpan.Zero, keep: 2).RunOnceAsync(CancellationToken.None);

        Assert.Equal(2, result.Builds);
        Assert.Null(await h.GetAsync(ids[0]));
        Assert.Null(await h.GetAsync(ids[1]));
        Assert.NotNull(await h.GetAsync(ids[2]));
        Assert.NotNull(await h.GetAsync(ids[3]));
        Assert.Equal(0, (await Sweeper(h, maxAge: TimeSpan.Zero, keep: 2).RunOnceAsync(CancellationToken.None)).Builds);
    }

    /// <summary>SQLite gives the next row max + 1: deleting the newest would hand its number out again, under a store-roots cursor that saw it.</summary>
    [Fact]
    public async Task RunOnce_NewestBuildAndGraphExpired_BothKeptSoTheirRowsAreNotHandedOutAgain()
    {
        await using var h = await LifecycleHarness.CreateAsync();
        await h.HeartbeatAsync("w1", X86);
        var older = await FinishAsync(h, 'a');
        var newest = await FinishAsync(h, 'b');
        var graphs = new[] { Guid.NewGuid(), Guid.NewGuid() };
        await h.Db.RunAsync(async s =>
        {
            foreach (var g in graphs)
            {
                await GraphTable.InsertAsync(s, new GraphRecord(g, [], false, 0, TimeSpan.Zero, TimeSpan.Zero, false, GraphState.Running, h.Time.GetUtcNow(), null), []);
                await GraphTable.FinishAsync(s, g, GraphState.Succeeded, h.Time.GetUtcNow());
            }
        }, CancellationToken.None);
        h.Time.Advance(TimeSpan.FromDays(10));

        var result = await Sweeper(h, maxAge: TimeSpan.FromDays(5), keep: 0).RunOnceAsync(CancellationToken.None);

        Assert.Equal(1, result.Builds);
        Assert.Null(await h.GetAsync(older));
        Assert.NotNull(await h.GetAsync(newest));
        Assert.Equal(1L, await CountAsync(h, $"SELECT COUNT(*) FROM graphs WHERE id = '{graphs[1]}'"));
        Assert.Equal(0L, await CountAsync(h, $"SELECT COUNT(*) FROM graphs WHERE id = '{graphs[0]}'"));
    }

    [Fact]
    public async Task OpenAsync_NewDatabase_HasIncrementalAutoVacuum()
    {
        await using var h = await LifecycleHarness.CreateAsync();
        Assert.Equal(2, await h.Db.RunAsync(RetentionTable.AutoVacuumAsync, CancellationToken.None));
    }

    [Fact]
    public async Task Backup_WhileTheDatabaseIsOpenAndWritten_IsAConsistentSingleFileCopy()
    {
        await using var h = await LifecycleHarness.CreateAsync();
        await h.HeartbeatAsync("w1", X86);
        await FinishAsync(h, 'a');
        await SubmitAsync(h, 'b');
        using var dir = new TempDirectory("backup");
        var copy = dir.Combine("copy.db");

        await DatabaseRoutes.BackupAsync(h.Db.File, copy, CancellationToken.None);
        await SubmitAsync(h, 'c');

        Assert.False(File.Exists(copy + "-wal"), "the copy should be one file");
        await using var connection = new SqliteConnection($"Data Source={copy};Mode=ReadOnly;Pooling=False");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA integrity_check";
        Assert.Equal("ok", await command.ExecuteScalarAsync());
        command.CommandText = "SELECT COUNT(*) FROM builds";
        Assert.Equal(2L, await command.ExecuteScalarAsync());
        command.CommandText = "PRAGMA user_version";
        Assert.Equal((long)LifecycleSchema.Migrations.Count, await command.ExecuteScalarAsync());
    }

    private static RetentionSweeper Sweeper(LifecycleHarness h, TimeSpan maxAge, long keep) =>
        new(h.Db, h.Time, new RetentionSettings(maxAge, keep, TimeSpan.FromHours(1), BatchSize: 1));

    private static async Task<Guid> SubmitAsync(LifecycleHarness h, char c)
    {
        var result = await h.Lifecycle.SubmitAsync(
            LifecycleHarness.Request() with { DrvPath = $"/nix/store/{new string(c, 32)}-x.drv" }, CancellationToken.None);
        return result.BuildId!.Value;
    }

    /// <summary>A build that ran on w1 with one log chunk and succeeded at the harness's current time.</summary>
    private static async Task<Guid> FinishAsync(LifecycleHarness h, char c)
    {
        var id = await SubmitAsync(h, c);
        await h.StartAsync(id, 1, "w1");
        await h.Lifecycle.OnLogAsync(new BuildLogEmitted(id, 1, "w1", 1, "building\n"), CancellationToken.None);
        await h.SucceedAsync(id, 1, "w1");
        return id;
    }

    private static async Task<long> CountAsync(LifecycleHarness h, string sql) =>
        Convert.ToInt64(await h.Db.RunAsync(s => s.ScalarAsync(sql), CancellationToken.None), System.Globalization.CultureInfo.InvariantCulture);
}
