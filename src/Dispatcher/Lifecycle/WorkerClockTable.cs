namespace BuildFarm.Dispatcher.Lifecycle;

/// <summary>A worker's last heartbeat: its own clock (<see cref="SentAt"/>) against the dispatcher's at receipt.</summary>
internal sealed record HeartbeatClock(string Worker, DateTimeOffset SentAt, DateTimeOffset ReceivedAt)
{
    /// <summary>Positive when the worker's clock is ahead of the dispatcher's (includes the message's transit time).</summary>
    public TimeSpan Skew => SentAt - ReceivedAt;
}

/// <summary>SQL over <c>worker_clock</c>, a monitoring table (see <see cref="MonitoringSchema"/>): each worker's last heartbeat clock.</summary>
internal static class WorkerClockTable
{
    public static Task RecordAsync(DbSession s, HeartbeatClock c) => s.ExecuteAsync(
        "INSERT INTO worker_clock (name, sent_at, received_at) VALUES ($n, $s, $r) ON CONFLICT(name) DO UPDATE SET sent_at = $s, received_at = $r",
        ("$n", c.Worker), ("$s", BuildTable.Ms(c.SentAt)), ("$r", BuildTable.Ms(c.ReceivedAt)));

    public static async Task<Dictionary<string, HeartbeatClock>> ByWorkerAsync(DbSession s) =>
        (await s.QueryAsync("SELECT name, sent_at, received_at FROM worker_clock",
            r => new HeartbeatClock(r.GetString(0), BuildTable.FromMs(r, 1)!.Value, BuildTable.FromMs(r, 2)!.Value))).ToDictionary(c => c.Worker, StringComparer.Ordinal);
}
