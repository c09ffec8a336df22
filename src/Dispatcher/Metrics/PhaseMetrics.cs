using System.Globalization;
using System.Text;
using BuildFarm.Dispatcher.Lifecycle;

namespace BuildFarm.Dispatcher.Metrics;

/// <summary>
/// Histograms of phase durations and the counter of finished builds by outcome, read from the counters the database
/// keeps as builds change state (<see cref="MetricCounterTable"/>): a scrape costs a few rows, however long the history.
/// Bytes transferred are in <see cref="TransferMetrics"/>.
/// </summary>
internal static class PhaseMetrics
{
    private static readonly string[] Outcomes = ["succeeded", "BuildFailure", "Timeout", "Infrastructure", "Rejected", "cancelled"];

    private static readonly string[] Phases = ["queued", "input_fetch", "build", "upload", "import"];

    public static void Render(StringBuilder sb, MetricSnapshot m)
    {
        var finished = m.Labels("builds_finished");
        MetricsEndpoint.Family(sb, "buildfarm_builds_finished_total", "Finished builds by outcome (succeeded, cancelled, or the failure kind).", "counter");
        foreach (var outcome in Outcomes.Union(finished.Keys.Order(StringComparer.Ordinal)))
            MetricsEndpoint.Sample(sb, "buildfarm_builds_finished_total", [("outcome", outcome)], finished.GetValueOrDefault(outcome));
        const string name = "buildfarm_phase_seconds";
        MetricsEndpoint.Family(sb, name, "Phase durations: queued (submit to each claim), input_fetch, build and upload (as workers report them), import (dispatcher accepting a result).", "histogram");
        foreach (var phase in Phases)
        {
            foreach (var le in MetricCounterTable.Buckets)
                MetricsEndpoint.Sample(sb, name + "_bucket", [("phase", phase), ("le", le.ToString(CultureInfo.InvariantCulture))], m.Bucket(phase, le));
            var count = m.Labels("phase_seconds_count").GetValueOrDefault(phase);
            MetricsEndpoint.Sample(sb, name + "_bucket", [("phase", phase), ("le", "+Inf")], count);
            MetricsEndpoint.Sample(sb, name + "_sum", [("phase", phase)], Math.Round(m.Labels("phase_seconds_sum").GetValueOrDefault(phase), 3));
            MetricsEndpoint.Sample(sb, name + "_count", [("phase", phase)], count);
        }
    }
}
