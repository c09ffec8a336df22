namespace BuildFarm.Dispatcher.Lifecycle;

/// <summary>
/// SQL over <c>attempt_transfer</c>, a monitoring table (see <see cref="MonitoringSchema"/>): the input bytes workers
/// report in <c>BuildSucceeded.InputBytesFetched</c>, kept once per attempt so a redelivered event is not counted twice.
/// </summary>
internal static class AttemptTransferTable
{
    public static Task RecordInputBytesAsync(DbSession s, Guid buildId, int attempt, string worker, long bytes) => s.ExecuteAsync(
        """
        INSERT INTO attempt_transfer (build_id, attempt, worker, input_bytes) VALUES ($b, $a, $w, $n)
        ON CONFLICT(build_id, attempt, worker) DO UPDATE SET input_bytes = $n
        """,
        ("$b", buildId.ToString()), ("$a", attempt), ("$w", worker), ("$n", Math.Max(0, bytes)));
}
