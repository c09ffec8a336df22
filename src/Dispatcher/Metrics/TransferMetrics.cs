using System.Text;
using BuildFarm.Dispatcher.Lifecycle;

namespace BuildFarm.Dispatcher.Metrics;

/// <summary>
/// The byte counters of <c>/metrics</c>: bytes moved between the origin and the workers, computed from the DB on each
/// scrape. Outputs come from the lifecycle's own tables (a succeeded build with an origin had every output imported,
/// NAR size checked against the archive); inputs from what workers reported (<see cref="AttemptTransferTable"/>).
/// </summary>
internal static class TransferMetrics
{
    public static async Task RenderAsync(StringBuilder sb, LifecycleDatabase db, CancellationToken ct)
    {
        var (outputs, inputs) = await db.RunAsync(async s => (await OutputTable.BytesImportedAsync(s), await AttemptTransferTable.InputBytesByWorkerAsync(s)), ct);
        MetricsEndpoint.Family(sb, "buildfarm_output_bytes_imported_total", "NAR bytes of build outputs the dispatcher imported into the origin store.", "counter");
        MetricsEndpoint.Sample(sb, "buildfarm_output_bytes_imported_total", [], outputs);
        MetricsEndpoint.Family(sb, "buildfarm_input_bytes_fetched_total", "NAR bytes of input paths workers pulled from the origin, per worker (successful attempts).", "counter");
        foreach (var (worker, bytes) in inputs)
            MetricsEndpoint.Sample(sb, "buildfarm_input_bytes_fetched_total", [("worker", worker)], bytes);
    }
}
