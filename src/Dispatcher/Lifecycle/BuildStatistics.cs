namespace BuildFarm.Dispatcher.Lifecycle;

/// <summary>
/// Read-only aggregates over <c>builds</c> for the charts (<c>/api/stats</c>) and <c>/metrics</c>: the rows' own
/// timestamps and states, never a sample kept elsewhere. Times are Unix milliseconds, as stored.
/// </summary>
internal static class BuildStatistics
{
    /// <summary>
    /// Builds finished at or after <paramref name="from"/>, counted per minute since <paramref name="from"/> (bucket 0 =
    /// the first minute) and state: aggregated by SQLite over the finish-time index, not row by row here.
    /// </summary>
    public static Task<List<(long Bucket, string State, long Count)>> FinishedPerMinuteAsync(DbSession s, long from) => s.QueryAsync(
        "SELECT (finished_at - $from) / 60000, state, COUNT(*) FROM builds WHERE finished_at >= $from GROUP BY 1, 2",
        r => (r.GetInt64(0), r.GetString(1), r.GetInt64(2)), ("$from", from));

    /// <summary>Builds alive at some time in [<paramref name="from"/>, <paramref name="end"/>): submitted before the end, not finished before the start.</summary>
    public static Task<List<(long Submitted, long? Started, long? Finished)>> AliveBetweenAsync(DbSession s, long from, long end) => s.QueryAsync(
        // Two ranges of builds_finished_stats (covering), not the submission index, whose range is every build ever.
        """
        SELECT submitted_at, started_at, finished_at FROM builds WHERE finished_at >= $from AND submitted_at < $end
        UNION ALL
        SELECT submitted_at, started_at, finished_at FROM builds WHERE finished_at IS NULL AND submitted_at < $end
        """,
        r => (r.GetInt64(0), r.IsDBNull(1) ? (long?)null : r.GetInt64(1), r.IsDBNull(2) ? (long?)null : r.GetInt64(2)),
        ("$end", end), ("$from", from));

    /// <summary>
    /// Per class (system, features space separated): builds submitted and builds finished at or after
    /// <paramref name="from"/>, aggregated by SQLite (a handful of rows, however many builds).
    /// </summary>
    public static async Task<List<(string System, string Features, long Submitted, long Finished)>> ClassActivitySinceAsync(DbSession s, long from)
    {
        // One grouped range per time index (both covering), merged here: a handful of rows.
        var submitted = await s.QueryAsync("SELECT system, features, COUNT(*) FROM builds WHERE submitted_at >= $from GROUP BY system, features",
            r => (r.GetString(0), r.GetString(1), r.GetInt64(2)), ("$from", from));
        var finished = (await s.QueryAsync("SELECT system, features, COUNT(*) FROM builds WHERE finished_at >= $from GROUP BY system, features",
            r => (r.GetString(0), r.GetString(1), r.GetInt64(2)), ("$from", from))).ToDictionary(r => (r.Item1, r.Item2), r => r.Item3);
        var rows = submitted.Select(r => (r.Item1, r.Item2, r.Item3, finished.Remove((r.Item1, r.Item2), out var f) ? f : 0L)).ToList();
        rows.AddRange(finished.Select(kv => (kv.Key.Item1, kv.Key.Item2, 0L, kv.Value)));
        return rows;
    }

    /// <summary>Queued and running builds counted per (system, features, trusted, state): from builds_state_open, covering.</summary>
    public static Task<List<(string System, string Features, bool Trusted, string State, long Count)>> OpenPerClassAsync(DbSession s) => s.QueryAsync(
        "SELECT system, features, trusted, state, COUNT(*) FROM builds WHERE state IN ('queued', 'running') GROUP BY system, features, trusted, state",
        r => (r.GetString(0), r.GetString(1), r.GetInt64(2) != 0, r.GetString(3), r.GetInt64(4)));

    public static Task<List<(string Worker, long Count)>> RunningByWorkerAsync(DbSession s) => s.QueryAsync(
        "SELECT worker, COUNT(*) FROM builds WHERE state = 'running' AND worker IS NOT NULL GROUP BY worker", r => (r.GetString(0), r.GetInt64(1)));
}
