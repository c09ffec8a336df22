using System.Globalization;
using System.Text;

namespace BuildFarm.Dispatcher.Lifecycle;

/// <summary>
/// The counters behind <c>/metrics</c>, kept by SQLite triggers in the same transaction as the change they count, so a
/// scrape reads a few small rows instead of scanning every build, and a counter is exactly as durable as the state it
/// counts (a crash loses neither, a restart resets neither). Schema version 3 creates them and fills them once from
/// the rows already there. Totals (<c>builds_finished</c>, <c>attempts</c>, histograms, bytes) only grow: deleting
/// old builds (retention) leaves them as they were; <c>builds</c> is the gauge of rows per state and follows deletes.
/// </summary>
internal static class MetricCounterTable
{
    /// <summary>Histogram bucket bounds in seconds. Part of schema version 3: never edit; a new set is a new migration.</summary>
    public static IReadOnlyList<double> Buckets { get; } = [0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 4 * 3600];

    /// <summary>Phases and the SQL expression (seconds) of each, over the <c>NEW</c> row of its table or the old rows.</summary>
    private static readonly (string Phase, string Column)[] AttemptPhases =
        [("input_fetch", "input_fetch_ms"), ("build", "build_ms"), ("upload", "upload_ms"), ("import", "accept_ms")];

    private const string FinishedStates = "('succeeded', 'failed', 'cancelled')";

    private static string Outcome(string row) => $"CASE WHEN {row}.state = 'failed' THEN COALESCE({row}.failure_kind, 'failed') ELSE {row}.state END";

    public static string SchemaSql { get; } = BuildSchemaSql();

    /// <summary>(name, label) → value, e.g. ("builds", "queued") or ("input_bytes", "w1").</summary>
    public static Task<List<(string Name, string Label, double Value)>> ListAsync(DbSession s) =>
        s.QueryAsync("SELECT name, label, value FROM metric_counters ORDER BY name, label", r => (r.GetString(0), r.GetString(1), r.GetDouble(2)));

    /// <summary>Cumulative bucket counts: (phase, le) → observations at most le seconds.</summary>
    public static Task<List<(string Phase, double Le, long Count)>> BucketsAsync(DbSession s) =>
        s.QueryAsync("SELECT phase, le, count FROM metric_buckets ORDER BY phase, le", r => (r.GetString(0), r.GetDouble(1), r.GetInt64(2)));

    private static string Add(string name, string label, string value) =>
        $"INSERT INTO metric_counters (name, label, value) VALUES ('{name}', {label}, {value}) ON CONFLICT(name, label) DO UPDATE SET value = value + excluded.value;\n";

    private static string Observe(string phase, string seconds) =>
        $"UPDATE metric_buckets SET count = count + 1 WHERE phase = '{phase}' AND le >= {seconds};\n" +
        Add("phase_seconds_sum", $"'{phase}'", seconds) + Add("phase_seconds_count", $"'{phase}'", "1");

    private static string BuildSchemaSql()
    {
        var sql = new StringBuilder("""
            CREATE TABLE metric_counters (
                name TEXT NOT NULL,
                label TEXT NOT NULL,
                value REAL NOT NULL,
                PRIMARY KEY(name, label)
            ) WITHOUT ROWID;
            CREATE TABLE metric_buckets (
                phase TEXT NOT NULL,
                le REAL NOT NULL,
                count INTEGER NOT NULL,
                PRIMARY KEY(phase, le)
            ) WITHOUT ROWID;

            """);
        var inv = CultureInfo.InvariantCulture;
        string[] phases = ["queued", .. AttemptPhases.Select(p => p.Phase)];

        // Initial values from the rows already there (once: this step runs once per database).
        foreach (var phase in phases)
        {
            foreach (var le in Buckets)
                sql.Append(inv, $"INSERT INTO metric_buckets (phase, le, count) VALUES ('{phase}', {le.ToString(inv)}, 0);\n");
        }

        sql.Append("INSERT INTO metric_counters (name, label, value) SELECT 'builds', state, COUNT(*) FROM builds GROUP BY state;\n");
        sql.Append(inv, $"INSERT INTO metric_counters (name, label, value) SELECT 'builds_finished', {Outcome("builds")}, COUNT(*) FROM builds WHERE state IN {FinishedStates} GROUP BY 1;\n");
        sql.Append("INSERT INTO metric_counters (name, label, value) SELECT 'attempts', outcome, COUNT(*) FROM attempts GROUP BY outcome;\n");
        sql.Append("INSERT INTO metric_counters (name, label, value) SELECT 'input_bytes', worker, SUM(input_bytes) FROM attempt_transfer GROUP BY worker;\n");
        sql.Append("""
            INSERT INTO metric_counters (name, label, value) SELECT 'output_bytes', '', COALESCE(SUM(o.nar_size), 0) FROM outputs o
                JOIN builds b ON b.id = o.build_id AND b.state = 'succeeded' JOIN build_inputs i ON i.build_id = o.build_id;

            """);
        foreach (var (phase, table, seconds) in phases.Select(p => p == "queued"
                     ? (p, "builds WHERE started_at IS NOT NULL", "(started_at - submitted_at) / 1000.0")
                     : (p, "attempt_phases", AttemptPhases.Single(a => a.Phase == p).Column + " / 1000.0")))
        {
            sql.Append(inv, $"UPDATE metric_buckets SET count = (SELECT COUNT(*) FROM {table}{(table.Contains("WHERE", StringComparison.Ordinal) ? " AND" : " WHERE")} {seconds} <= metric_buckets.le) WHERE phase = '{phase}';\n");
            sql.Append(inv, $"INSERT INTO metric_counters (name, label, value) SELECT 'phase_seconds_sum', '{phase}', COALESCE(SUM({seconds}), 0) FROM {table};\n");
            sql.Append(inv, $"INSERT INTO metric_counters (name, label, value) SELECT 'phase_seconds_count', '{phase}', COUNT(*) FROM {table};\n");
        }

        // The triggers: each runs inside the statement (and so the transaction) that made the change.
        sql.Append("CREATE TRIGGER metric_builds_insert AFTER INSERT ON builds BEGIN\n").Append(Add("builds", "NEW.state", "1")).Append("END;\n");
        sql.Append("CREATE TRIGGER metric_builds_delete AFTER DELETE ON builds BEGIN\n").Append(Add("builds", "OLD.state", "-1")).Append("END;\n");
        sql.Append("CREATE TRIGGER metric_builds_state AFTER UPDATE OF state ON builds WHEN OLD.state <> NEW.state BEGIN\n")
            .Append(Add("builds", "OLD.state", "-1")).Append(Add("builds", "NEW.state", "1")).Append("END;\n");
        sql.Append(inv, $"CREATE TRIGGER metric_builds_finished AFTER UPDATE OF state ON builds WHEN OLD.state <> NEW.state AND NEW.state IN {FinishedStates} BEGIN\n")
            .Append(Add("builds_finished", Outcome("NEW"), "1")).Append("END;\n");
        // Outputs are inserted before their build turns succeeded (same transaction), as the old scan assumed.
        sql.Append("""
            CREATE TRIGGER metric_output_bytes AFTER UPDATE OF state ON builds
            WHEN NEW.state = 'succeeded' AND OLD.state <> 'succeeded' AND EXISTS (SELECT 1 FROM build_inputs WHERE build_id = NEW.id) BEGIN

            """).Append(Add("output_bytes", "''", "(SELECT COALESCE(SUM(nar_size), 0) FROM outputs WHERE build_id = NEW.id)")).Append("END;\n");
        sql.Append("CREATE TRIGGER metric_queued AFTER UPDATE OF started_at ON builds WHEN NEW.started_at IS NOT NULL AND NEW.started_at IS NOT OLD.started_at BEGIN\n")
            .Append(Observe("queued", "(NEW.started_at - NEW.submitted_at) / 1000.0")).Append("END;\n");
        sql.Append("CREATE TRIGGER metric_attempts_insert AFTER INSERT ON attempts BEGIN\n").Append(Add("attempts", "NEW.outcome", "1")).Append("END;\n");
        sql.Append("CREATE TRIGGER metric_attempts_outcome AFTER UPDATE OF outcome ON attempts WHEN OLD.outcome <> NEW.outcome BEGIN\n")
            .Append(Add("attempts", "OLD.outcome", "-1")).Append(Add("attempts", "NEW.outcome", "1")).Append("END;\n");
        // A redelivered event upserts the same row (an UPDATE, no INSERT trigger): it is counted once.
        sql.Append("CREATE TRIGGER metric_phases AFTER INSERT ON attempt_phases BEGIN\n");
        foreach (var (phase, column) in AttemptPhases)
            sql.Append(Observe(phase, $"NEW.{column} / 1000.0"));
        sql.Append("END;\n");
        sql.Append("CREATE TRIGGER metric_input_bytes_insert AFTER INSERT ON attempt_transfer BEGIN\n").Append(Add("input_bytes", "NEW.worker", "NEW.input_bytes")).Append("END;\n");
        sql.Append("CREATE TRIGGER metric_input_bytes_update AFTER UPDATE OF input_bytes ON attempt_transfer BEGIN\n")
            .Append(Add("input_bytes", "NEW.worker", "NEW.input_bytes - OLD.input_bytes")).Append("END;\n");
        return sql.ToString();
    }
}
