using BuildFarm.Dispatcher.Lifecycle;

namespace BuildFarm.Dispatcher.Metrics;

/// <summary>
/// Bytes moved between the origin and the workers, as counters computed from the DB on each scrape. Outputs come from
/// the lifecycle's own tables (a succeeded build with an origin had every output imported, NAR size checked against
/// the archive); input bytes are what workers report in <c>BuildSucceeded.InputBytesFetched</c>, kept here once per
/// attempt so a redelivered event is not counted twice.
/// </summary>
internal static class TransferTables
{
    public static async Task RecordInputBytesAsync(DbSession s, Guid buildId, int attempt, string worker, long bytes)
    {
        await s.ExecuteAsync(
            """
            INSERT INTO attempt_transfer (build_id, attempt, worker, input_bytes) VALUES ($b, $a, $w, $n)
            ON CONFLICT(build_id, attempt, worker) DO UPDATE SET input_bytes = $n
            """,
            ("$b", buildId.ToString()), ("$a", attempt), ("$w", worker), ("$n", Math.Max(0, bytes)));
    }

    /// <summary>Input NAR bytes workers pulled from the origin, per worker.</summary>
    public static async Task<List<(string Worker, long Bytes)>> InputBytesByWorkerAsync(DbSession s)
    {
        return await s.QueryAsync("SELECT worker, SUM(input_bytes) FROM attempt_transfer GROUP BY worker ORDER BY worker", r => (r.GetString(0), r.GetInt64(1)));
    }

    /// <summary>NAR bytes of the outputs the dispatcher imported into the origin store (succeeded builds that had an origin).</summary>
    public static async Task<long> OutputBytesImportedAsync(DbSession s) => (long)(await s.ScalarAsync(
        """
        SELECT COALESCE(SUM(o.nar_size), 0) FROM outputs o
        JOIN builds b ON b.id = o.build_id AND b.state = 'succeeded'
        JOIN build_inputs i ON i.build_id = o.build_id
        """) ?? 0L);
}

/// <summary>The byte counters of <c>/metrics</c>.</summary>
internal static class TransferMetrics
{
    public static async Task RenderAsync(System.Text.StringBuilder sb, LifecycleDatabase db, CancellationToken ct)
    {
        var (outputs, inputs) = await db.RunAsync(async s => (await TransferTables.OutputBytesImportedAsync(s), await TransferTables.InputBytesByWorkerAsync(s)), ct);
        MetricsEndpoint.Family(sb, "buildfarm_output_bytes_imported_total", "NAR bytes of build outputs the dispatcher imported into the origin store.", "counter");
        MetricsEndpoint.Sample(sb, "buildfarm_output_bytes_imported_total", [], outputs);
        MetricsEndpoint.Family(sb, "buildfarm_input_bytes_fetched_total", "NAR bytes of input paths workers pulled from the origin, per worker (successful attempts).", "counter");
        foreach (var (worker, bytes) in inputs)
            MetricsEndpoint.Sample(sb, "buildfarm_input_bytes_fetched_total", [("worker", worker)], bytes);
    }
}
