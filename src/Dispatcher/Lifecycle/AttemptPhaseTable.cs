namespace BuildFarm.Dispatcher.Lifecycle;

/// <summary>Phase durations of one attempt as its worker reported them, plus how long the dispatcher took to accept the result.</summary>
internal sealed record AttemptPhases(Guid BuildId, int Attempt, string Worker, TimeSpan InputFetch, TimeSpan Build, TimeSpan Upload, TimeSpan Accept);

/// <summary>
/// SQL over <c>attempt_phases</c>, a monitoring table (see <see cref="MonitoringSchema"/>; never read by the state
/// machine): what a successful attempt's event carries that the lifecycle does not keep.
/// </summary>
internal static class AttemptPhaseTable
{
    public static Task RecordAsync(DbSession s, AttemptPhases p) => s.ExecuteAsync(
        """
        INSERT INTO attempt_phases (build_id, attempt, worker, input_fetch_ms, build_ms, upload_ms, accept_ms) VALUES ($b, $a, $w, $i, $bu, $u, $ac)
        ON CONFLICT(build_id, attempt, worker) DO UPDATE SET input_fetch_ms = $i, build_ms = $bu, upload_ms = $u, accept_ms = $ac
        """,
        ("$b", p.BuildId.ToString()), ("$a", p.Attempt), ("$w", p.Worker), ("$i", (long)p.InputFetch.TotalMilliseconds),
        ("$bu", (long)p.Build.TotalMilliseconds), ("$u", (long)p.Upload.TotalMilliseconds), ("$ac", (long)p.Accept.TotalMilliseconds));

    /// <summary>Every attempt's phases, or one build's.</summary>
    public static Task<List<AttemptPhases>> ListAsync(DbSession s, Guid? build = null) => s.QueryAsync(
        "SELECT build_id, attempt, worker, input_fetch_ms, build_ms, upload_ms, accept_ms FROM attempt_phases" + (build is null ? "" : " WHERE build_id = $b"),
        r => new AttemptPhases(Guid.Parse(r.GetString(0)), r.GetInt32(1), r.GetString(2), TimeSpan.FromMilliseconds(r.GetInt64(3)),
            TimeSpan.FromMilliseconds(r.GetInt64(4)), TimeSpan.FromMilliseconds(r.GetInt64(5)), TimeSpan.FromMilliseconds(r.GetInt64(6))),
        ("$b", build?.ToString()));
}
