using System.Text;
using BuildFarm.Dispatcher.Lifecycle;

namespace BuildFarm.Dispatcher.Metrics;

/// <summary>
/// The byte counters of <c>/metrics</c>: bytes moved between the origin and the workers, from the counters the database
/// keeps (<see cref="MetricCounterTable"/>). Outputs: a build with an origin turning succeeded adds its outputs' NAR
/// sizes (each imported, size checked against the archive); inputs: what workers reported (<see cref="AttemptTransferTable"/>).
/// </summary>
internal static class TransferMetrics
{
    public static void Render(StringBuilder sb, MetricSnapshot m)
    {
        MetricsEndpoint.Family(sb, "buildfarm_output_bytes_imported_total", "NAR bytes of build outputs the dispatcher imported into the origin store.", "counter");
        MetricsEndpoint.Sample(sb, "buildfarm_output_bytes_imported_total", [], m.Labels("output_bytes").GetValueOrDefault(""));
        MetricsEndpoint.Family(sb, "buildfarm_input_bytes_fetched_total", "NAR bytes of input paths workers pulled from the origin, per worker (successful attempts).", "counter");
        foreach (var (worker, bytes) in m.Labels("input_bytes").OrderBy(kv => kv.Key, StringComparer.Ordinal))
            MetricsEndpoint.Sample(sb, "buildfarm_input_bytes_fetched_total", [("worker", worker)], bytes);
    }
}
