namespace BuildFarm.Dispatcher.Lifecycle;

/// <summary>
/// Read-only aggregates over <c>builds</c> for the charts (<c>/api/stats</c>) and <c>/metrics</c>: the rows' own
/// timestamps and states, never a sample kept elsewhere. Times are Unix milliseconds, as stored.
/// </summary>
internal static class BuildStatistics
{
    /// <summary>
    /// Per class (system, features space separated): builds submitted and builds finished in [<paramref name="from"/>,
    /// <paramref name="until"/>), aggregated by SQLite over the time indexes (for a part of a minute: see BuildMinuteTable).
    /// </summary>
    public static async Task<List<(string System, string Features, long Submitted, long Finished)>> ClassActivityBetweenAsync(DbSession s, long from, long until)
    {
        // One grouped range per time index (both covering), merged here: a handful of rows.
        var submitted = await s.QueryAsync("SELECT system, features, COUNT(*) FROM builds WHERE submitted_at >= $from AND submitted_at < $until GROUP BY system, features",
            r => (r.GetString(0), r.GetString(1), r.GetInt64(2)), ("$from", from), ("$until", until));
        var finished = (await s.QueryAsync("SELECT system, features, COUNT(*) FROM builds WHERE finished_at >= $from AND finished_at < $until GROUP BY system, features",
            r => (r.GetString(0), r.GetString(1), r.GetInt64(2)), ("$from", from), ("$until", until))).ToDictionary(r => (r.Item1, r.Item2), r => r.Item3);
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
