namespace BuildFarm.Dispatcher.Lifecycle;

/// <summary>
/// Read-only aggregates over <c>builds</c> for the charts (<c>/api/stats</c>) and <c>/metrics</c>: the rows' own
/// timestamps and states, never a sample kept elsewhere. Times are Unix milliseconds, as stored.
/// </summary>
internal static class BuildStatistics
{
    /// <summary>Builds finished at or after <paramref name="from"/>: when, and in which state.</summary>
    public static Task<List<(long At, string State)>> FinishedSinceAsync(DbSession s, long from) => s.QueryAsync(
        "SELECT finished_at, state FROM builds WHERE finished_at >= $from",
        r => (r.GetInt64(0), r.GetString(1)), ("$from", from));

    /// <summary>Builds alive at some time in [<paramref name="from"/>, <paramref name="end"/>): submitted before the end, not finished before the start.</summary>
    public static Task<List<(long Submitted, long? Started, long? Finished)>> AliveBetweenAsync(DbSession s, long from, long end) => s.QueryAsync(
        "SELECT submitted_at, started_at, finished_at FROM builds WHERE submitted_at < $end AND (finished_at IS NULL OR finished_at >= $from)",
        r => (r.GetInt64(0), r.IsDBNull(1) ? (long?)null : r.GetInt64(1), r.IsDBNull(2) ? (long?)null : r.GetInt64(2)),
        ("$end", end), ("$from", from));

    /// <summary>Builds submitted or finished at or after <paramref name="from"/>, with their class's system and features (space separated).</summary>
    public static Task<List<(string System, string Features, long Submitted, long? Finished)>> ActiveSinceAsync(DbSession s, long from) => s.QueryAsync(
        "SELECT system, features, submitted_at, finished_at FROM builds WHERE submitted_at >= $from OR finished_at >= $from",
        r => (r.GetString(0), r.GetString(1), r.GetInt64(2), r.IsDBNull(3) ? (long?)null : r.GetInt64(3)),
        ("$from", from));

    public static Task<List<(string State, long Count)>> CountByStateAsync(DbSession s) =>
        s.QueryAsync("SELECT state, COUNT(*) FROM builds GROUP BY state", r => (r.GetString(0), r.GetInt64(1)));

    /// <summary>Finished builds by outcome: succeeded, cancelled, or a failed build's failure kind.</summary>
    public static Task<List<(string Outcome, long Count)>> FinishedByOutcomeAsync(DbSession s) => s.QueryAsync(
        "SELECT CASE WHEN state = 'failed' THEN COALESCE(failure_kind, 'failed') ELSE state END, COUNT(*) FROM builds WHERE state IN ('succeeded', 'failed', 'cancelled') GROUP BY 1",
        r => (r.GetString(0), r.GetInt64(1)));

    public static Task<List<(string Worker, long Count)>> RunningByWorkerAsync(DbSession s) => s.QueryAsync(
        "SELECT worker, COUNT(*) FROM builds WHERE state = 'running' AND worker IS NOT NULL GROUP BY worker", r => (r.GetString(0), r.GetInt64(1)));

    /// <summary>How long each started build waited between submission and its (latest) start, in seconds.</summary>
    public static Task<List<double>> QueuedSecondsAsync(DbSession s) =>
        s.QueryAsync("SELECT started_at - submitted_at FROM builds WHERE started_at IS NOT NULL", r => r.GetInt64(0) / 1000.0);
}
