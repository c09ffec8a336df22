using System.Text;

namespace BuildFarm.Dispatcher.Lifecycle;

/// <summary>
/// Per-minute counts of the builds' own timestamps, per class, kept by SQLite triggers in the same transaction as the
/// change (as <see cref="MetricCounterTable"/>), so a chart reads minutes × classes rows however many builds finished in
/// its window (docs/PERFORMANCE.md#scale). A row of <c>builds</c> contributes 1 to the minute of its submission, of its
/// current start, and of its finish (with its final state, and whether it had started); an update takes the old row's
/// contributions back and adds the new row's, a delete (retention) takes them back. So the counts are always exactly
/// what a scan of <c>builds</c> would give at minute granularity (<c>minute</c> = Unix ms / 60,000, rounded down).
/// </summary>
internal static class BuildMinuteTable
{
    private const string Columns = "submitted, started, finished, finished_started, succeeded, failed, cancelled";

    /// <summary>Schema version 9: the table, its triggers, and the counts of the builds already stored.</summary>
    public static string SchemaSql { get; } = BuildSchemaSql();

    /// <summary>Finished builds per minute from <paramref name="fromMinute"/> (inclusive): (minute, succeeded, failed, cancelled).</summary>
    public static Task<List<(long Minute, long Succeeded, long Failed, long Cancelled)>> FinishedSinceAsync(DbSession s, long fromMinute) => s.QueryAsync(
        "SELECT minute, SUM(succeeded), SUM(failed), SUM(cancelled) FROM build_minutes WHERE minute >= $m GROUP BY minute",
        r => (r.GetInt64(0), r.GetInt64(1), r.GetInt64(2), r.GetInt64(3)), ("$m", fromMinute));

    /// <summary>Per minute from <paramref name="fromMinute"/>: submissions, (current) starts, finishes, finishes of started builds.</summary>
    public static Task<List<(long Minute, long Submitted, long Started, long Finished, long FinishedStarted)>> ChangesSinceAsync(DbSession s, long fromMinute) => s.QueryAsync(
        "SELECT minute, SUM(submitted), SUM(started), SUM(finished), SUM(finished_started) FROM build_minutes WHERE minute >= $m GROUP BY minute",
        r => (r.GetInt64(0), r.GetInt64(1), r.GetInt64(2), r.GetInt64(3), r.GetInt64(4)), ("$m", fromMinute));

    /// <summary>Per class, submissions and finishes in the minutes from <paramref name="fromMinute"/> (inclusive).</summary>
    public static Task<List<(string System, string Features, long Submitted, long Finished)>> ClassesSinceAsync(DbSession s, long fromMinute) => s.QueryAsync(
        "SELECT system, features, SUM(submitted), SUM(finished) FROM build_minutes WHERE minute >= $m GROUP BY system, features",
        r => (r.GetString(0), r.GetString(1), r.GetInt64(2), r.GetInt64(3)), ("$m", fromMinute));

    /// <summary>One upsert per timestamp of <paramref name="row"/> (NEW or OLD), each counting <paramref name="sign"/>.</summary>
    private static string Contribute(string row, string sign)
    {
        string Upsert(string minute, string where, string values) =>
            $"""
             INSERT INTO build_minutes (minute, system, features, {Columns}) SELECT {minute}, {row}.system, {row}.features, {values} WHERE {where}
                 ON CONFLICT(minute, system, features) DO UPDATE SET submitted = submitted + excluded.submitted, started = started + excluded.started,
                 finished = finished + excluded.finished, finished_started = finished_started + excluded.finished_started,
                 succeeded = succeeded + excluded.succeeded, failed = failed + excluded.failed, cancelled = cancelled + excluded.cancelled;

             """;
        return Upsert($"{row}.submitted_at / 60000", "1", $"{sign}, 0, 0, 0, 0, 0, 0")
            + Upsert($"{row}.started_at / 60000", $"{row}.started_at IS NOT NULL", $"0, {sign}, 0, 0, 0, 0, 0")
            + Upsert($"{row}.finished_at / 60000", $"{row}.finished_at IS NOT NULL",
                $"0, 0, {sign}, {sign} * ({row}.started_at IS NOT NULL), {sign} * ({row}.state = 'succeeded'), {sign} * ({row}.state = 'failed'), {sign} * ({row}.state = 'cancelled')");
    }

    private static string BuildSchemaSql()
    {
        var sql = new StringBuilder($"""
            CREATE TABLE build_minutes (
                minute INTEGER NOT NULL,            -- Unix ms / 60000
                system TEXT NOT NULL,
                features TEXT NOT NULL,
                submitted INTEGER NOT NULL,         -- builds submitted in this minute
                started INTEGER NOT NULL,           -- builds whose current attempt started in it
                finished INTEGER NOT NULL,          -- builds finished in it (any state) ...
                finished_started INTEGER NOT NULL,  -- ... of which had started
                succeeded INTEGER NOT NULL,
                failed INTEGER NOT NULL,
                cancelled INTEGER NOT NULL,
                PRIMARY KEY(minute, system, features)
            ) WITHOUT ROWID;
            INSERT INTO build_minutes (minute, system, features, {Columns})
            SELECT minute, system, features, SUM(submitted), SUM(started), SUM(finished), SUM(finished_started), SUM(succeeded), SUM(failed), SUM(cancelled) FROM (
                SELECT submitted_at / 60000 AS minute, system, features, 1 AS submitted, 0 AS started, 0 AS finished, 0 AS finished_started, 0 AS succeeded, 0 AS failed, 0 AS cancelled FROM builds
                UNION ALL SELECT started_at / 60000, system, features, 0, 1, 0, 0, 0, 0, 0 FROM builds WHERE started_at IS NOT NULL
                UNION ALL SELECT finished_at / 60000, system, features, 0, 0, 1, started_at IS NOT NULL, state = 'succeeded', state = 'failed', state = 'cancelled' FROM builds WHERE finished_at IS NOT NULL)
            GROUP BY minute, system, features;

            """);
        sql.Append("CREATE TRIGGER build_minutes_insert AFTER INSERT ON builds BEGIN\n").Append(Contribute("NEW", "1")).Append("END;\n");
        sql.Append("CREATE TRIGGER build_minutes_delete AFTER DELETE ON builds BEGIN\n").Append(Contribute("OLD", "-1")).Append("END;\n");
        sql.Append("""
            CREATE TRIGGER build_minutes_update AFTER UPDATE OF submitted_at, started_at, finished_at, state, system, features ON builds
            WHEN OLD.submitted_at IS NOT NEW.submitted_at OR OLD.started_at IS NOT NEW.started_at OR OLD.finished_at IS NOT NEW.finished_at
                OR (NEW.finished_at IS NOT NULL AND OLD.state IS NOT NEW.state) OR OLD.system IS NOT NEW.system OR OLD.features IS NOT NEW.features BEGIN

            """).Append(Contribute("OLD", "-1")).Append(Contribute("NEW", "1")).Append("END;\n");
        return sql.ToString();
    }
}
