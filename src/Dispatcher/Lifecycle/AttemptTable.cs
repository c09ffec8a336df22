using BuildFarm.Contracts.Builds;

namespace BuildFarm.Dispatcher.Lifecycle;

/// <summary>SQL over <c>attempts</c>: every claim and every result, including the ones that were ignored.</summary>
internal static class AttemptTable
{
    public static Task InsertAsync(DbSession s, Guid build, int attempt, string worker, DateTimeOffset? started, DateTimeOffset? finished, string outcome, string? reason, int? exitCode,
        BuildIsolation? isolation = null) =>
        s.ExecuteAsync(
            "INSERT INTO attempts (build_id, attempt, worker, started_at, finished_at, outcome, reason, exit_code, isolation) VALUES ($b, $a, $w, $s, $f, $o, $r, $c, $iso)",
            ("$b", build.ToString()), ("$a", attempt), ("$w", worker), ("$s", started is { } st ? BuildTable.Ms(st) : null),
            ("$f", finished is { } fi ? BuildTable.Ms(fi) : null), ("$o", outcome), ("$r", reason), ("$c", exitCode), ("$iso", isolation?.ToString()));

    /// <summary>Closes the winning (running) row of an attempt.</summary>
    public static Task FinishAsync(DbSession s, Guid build, int attempt, string worker, DateTimeOffset finished, string outcome, string? reason, int? exitCode) =>
        s.ExecuteAsync(
            "UPDATE attempts SET finished_at = $f, outcome = $o, reason = $r, exit_code = $c WHERE build_id = $b AND attempt = $a AND worker = $w AND outcome = 'running'",
            ("$b", build.ToString()), ("$a", attempt), ("$w", worker), ("$f", BuildTable.Ms(finished)), ("$o", outcome), ("$r", reason), ("$c", exitCode));

    public static Task<List<AttemptRecord>> ListAsync(DbSession s, Guid build) => s.QueryAsync(
        "SELECT attempt, worker, started_at, finished_at, outcome, reason, exit_code, isolation FROM attempts WHERE build_id = $b ORDER BY id",
        r => new AttemptRecord(r.GetInt32(0), r.GetString(1), BuildTable.FromMs(r, 2), BuildTable.FromMs(r, 3), r.GetString(4),
            r.IsDBNull(5) ? null : r.GetString(5), r.IsDBNull(6) ? null : r.GetInt32(6), BuildTable.ReadIsolation(r, 7)),
        ("$b", build.ToString()));

    /// <summary>
    /// Each worker's last <paramref name="window"/> finished attempts (running, ignored and cancelled ones do not
    /// count), newest first: only those leave the database, however long the history.
    /// </summary>
    /// <summary>
    /// The latest <paramref name="window"/> finished attempts of each registered worker, newest first: per worker from
    /// the attempts_worker index, so the cost is workers × window whatever the number of attempts stored.
    /// </summary>
    public static Task<List<(string Worker, string Outcome)>> RecentOutcomesAsync(DbSession s, int window) => s.QueryAsync(
        """
        SELECT w.name, a.outcome FROM workers w
        JOIN attempts a ON a.id IN (
            SELECT id FROM attempts WHERE worker = w.name AND outcome NOT IN ('running', 'ignored', 'cancelled') ORDER BY id DESC LIMIT $window)
        ORDER BY a.id DESC
        """,
        r => (r.GetString(0), r.GetString(1)), ("$window", window));
}
