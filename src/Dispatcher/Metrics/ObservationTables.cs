using BuildFarm.Dispatcher.Lifecycle;

namespace BuildFarm.Dispatcher.Metrics;

/// <summary>Phase durations of one attempt as its worker reported them, plus how long the dispatcher took to accept the result.</summary>
internal sealed record AttemptPhases(Guid BuildId, int Attempt, string Worker, TimeSpan InputFetch, TimeSpan Build, TimeSpan Upload, TimeSpan Accept);

/// <summary>A worker's last heartbeat: its own clock (<see cref="SentAt"/>) against the dispatcher's at receipt.</summary>
internal sealed record HeartbeatClock(string Worker, DateTimeOffset SentAt, DateTimeOffset ReceivedAt)
{
    /// <summary>Positive when the worker's clock is ahead of the dispatcher's (includes the message's transit time).</summary>
    public TimeSpan Skew => SentAt - ReceivedAt;
}

/// <summary>
/// Monitoring-only tables beside the lifecycle's (created with them, see <see cref="MonitoringSchema"/>; never read by
/// the state machine): what the events carry that the lifecycle does not keep.
/// </summary>
internal static class ObservationTables
{
    public static async Task RecordPhasesAsync(DbSession s, AttemptPhases p)
    {
        await s.ExecuteAsync(
            """
            INSERT INTO attempt_phases (build_id, attempt, worker, input_fetch_ms, build_ms, upload_ms, accept_ms) VALUES ($b, $a, $w, $i, $bu, $u, $ac)
            ON CONFLICT(build_id, attempt, worker) DO UPDATE SET input_fetch_ms = $i, build_ms = $bu, upload_ms = $u, accept_ms = $ac
            """,
            ("$b", p.BuildId.ToString()), ("$a", p.Attempt), ("$w", p.Worker), ("$i", (long)p.InputFetch.TotalMilliseconds),
            ("$bu", (long)p.Build.TotalMilliseconds), ("$u", (long)p.Upload.TotalMilliseconds), ("$ac", (long)p.Accept.TotalMilliseconds));
    }

    public static async Task RecordHeartbeatAsync(DbSession s, HeartbeatClock c)
    {
        await s.ExecuteAsync(
            "INSERT INTO worker_clock (name, sent_at, received_at) VALUES ($n, $s, $r) ON CONFLICT(name) DO UPDATE SET sent_at = $s, received_at = $r",
            ("$n", c.Worker), ("$s", BuildTable.Ms(c.SentAt)), ("$r", BuildTable.Ms(c.ReceivedAt)));
    }

    public static async Task<List<AttemptPhases>> PhasesAsync(DbSession s, Guid? build = null)
    {
        return await s.QueryAsync(
            "SELECT build_id, attempt, worker, input_fetch_ms, build_ms, upload_ms, accept_ms FROM attempt_phases" + (build is null ? "" : " WHERE build_id = $b"),
            r => new AttemptPhases(Guid.Parse(r.GetString(0)), r.GetInt32(1), r.GetString(2), TimeSpan.FromMilliseconds(r.GetInt64(3)),
                TimeSpan.FromMilliseconds(r.GetInt64(4)), TimeSpan.FromMilliseconds(r.GetInt64(5)), TimeSpan.FromMilliseconds(r.GetInt64(6))),
            ("$b", build?.ToString()));
    }

    public static async Task<Dictionary<string, HeartbeatClock>> ClocksAsync(DbSession s)
    {
        return (await s.QueryAsync("SELECT name, sent_at, received_at FROM worker_clock",
            r => new HeartbeatClock(r.GetString(0), BuildTable.FromMs(r, 1)!.Value, BuildTable.FromMs(r, 2)!.Value))).ToDictionary(c => c.Worker, StringComparer.Ordinal);
    }
}
