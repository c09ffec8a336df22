namespace BuildFarm.Dispatcher.Lifecycle;

/// <summary>
/// SQL of the retention sweep: which finished builds and graphs are old enough to go, and deleting one batch of them
/// with everything that hangs off a build (attempts, logs, outputs, inputs, phases, transfers). The <c>/metrics</c>
/// totals are kept by triggers and do not go with the rows (<see cref="MetricCounterTable"/>).
/// </summary>
internal static class RetentionTable
{
    private const string Finished = "state IN ('succeeded', 'failed', 'cancelled')";

    /// <summary>A build a running graph still points at stays, however old: the graph reads its state.</summary>
    private const string NotInRunningGraph =
        "id NOT IN (SELECT n.build_id FROM graph_nodes n JOIN graphs g ON g.id = n.graph_id WHERE g.state = 'running' AND n.build_id IS NOT NULL)";

    /// <summary>
    /// The newest row stays, however old: SQLite hands out max + 1, so deleting the newest row would give its number to
    /// the next build or graph, which a store-roots cursor that saw the deleted one would then skip (StoreRootsCursor).
    /// </summary>
    private const string NotNewestBuild = "rowid < (SELECT MAX(rowid) FROM builds)";

    /// <summary>
    /// The two reads of a batch walk the finish-time index in order and stop at the batch's end (<c>+state</c> keeps
    /// SQLite off the state index, which it would pick and then sort every finished build by finish time: 141 ms at
    /// 100,000 builds for each batch, most of them finding nothing to delete). Every row with a finish time is finished,
    /// so the state test only guards against a hand-edited row. Pinned by <c>LifecycleSchemaTests</c>.
    /// </summary>
    internal const string ExpiredByAgeSql =
        $"SELECT id FROM builds WHERE finished_at < $before AND +{Finished} AND {NotInRunningGraph} AND {NotNewestBuild} ORDER BY finished_at LIMIT $n";

    /// <inheritdoc cref="ExpiredByAgeSql"/>
    internal const string OldestFinishedSql =
        $"SELECT id FROM builds WHERE finished_at IS NOT NULL AND +{Finished} AND {NotInRunningGraph} AND {NotNewestBuild} ORDER BY finished_at LIMIT $n";

    /// <summary>
    /// Up to <paramref name="limit"/> finished builds, oldest first, that finished before <paramref name="before"/> or
    /// are beyond the newest <paramref name="keepCount"/> finished ones (0 = no count limit).
    /// </summary>
    public static async Task<List<string>> ExpiredBuildsAsync(DbSession s, long before, long keepCount, int limit)
    {
        var byAge = await s.QueryAsync(ExpiredByAgeSql, r => r.GetString(0), ("$before", before), ("$n", limit));
        if (byAge.Count >= limit || keepCount <= 0)
            return byAge;
        var finished = (long)(await s.ScalarAsync($"SELECT COUNT(*) FROM builds WHERE {Finished}"))!;
        if (finished <= keepCount)
            return byAge;
        var byCount = await s.QueryAsync(OldestFinishedSql, r => r.GetString(0), ("$n", Math.Min(limit, finished - keepCount)));
        return [.. byAge.Union(byCount, StringComparer.Ordinal).Take(limit)];
    }

    /// <summary>Deletes the builds and everything recorded about them; returns how many log rows went with them.</summary>
    public static async Task<int> DeleteBuildsAsync(DbSession s, IReadOnlyList<string> ids)
    {
        var logs = 0;
        foreach (var id in ids)
        {
            logs += await s.ExecuteAsync("DELETE FROM logs WHERE build_id = $b", ("$b", id));
            await s.ExecuteAsync(
                """
                DELETE FROM attempts WHERE build_id = $b;
                DELETE FROM outputs WHERE build_id = $b;
                DELETE FROM build_inputs WHERE build_id = $b;
                DELETE FROM attempt_phases WHERE build_id = $b;
                DELETE FROM attempt_transfer WHERE build_id = $b;
                DELETE FROM build_waiters WHERE build_id = $b;
                DELETE FROM pending_results WHERE build_id = $b;
                DELETE FROM builds WHERE id = $b;
                """, ("$b", id));
        }

        return logs;
    }

    /// <summary>Up to <paramref name="limit"/> finished graphs that finished before <paramref name="before"/>.</summary>
    public static Task<List<string>> ExpiredGraphsAsync(DbSession s, long before, int limit) => s.QueryAsync(
        "SELECT id FROM graphs WHERE state <> 'running' AND finished_at < $before AND rowid < (SELECT MAX(rowid) FROM graphs) ORDER BY finished_at LIMIT $n",
        r => r.GetString(0), ("$before", before), ("$n", limit));

    public static async Task DeleteGraphsAsync(DbSession s, IReadOnlyList<string> ids)
    {
        foreach (var id in ids)
            await s.ExecuteAsync("DELETE FROM graph_nodes WHERE graph_id = $g; DELETE FROM graphs WHERE id = $g;", ("$g", id));
    }

    /// <summary>Hands up to <paramref name="pages"/> free pages back to the file system (a no-op unless auto_vacuum is INCREMENTAL).</summary>
    public static Task IncrementalVacuumAsync(DbSession s, int pages) => s.ExecuteAsync($"PRAGMA incremental_vacuum({pages})");

    /// <summary>0 = none, 1 = full, 2 = incremental.</summary>
    public static async Task<long> AutoVacuumAsync(DbSession s) => (long)(await s.ScalarAsync("PRAGMA auto_vacuum"))!;
}
