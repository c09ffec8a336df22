using System.Globalization;
using System.Text;
using BuildFarm.Dispatcher.Lifecycle;

namespace BuildFarm.Dispatcher.Metrics;

/// <summary>
/// Histograms of phase durations and the counter of finished builds by outcome, computed from the DB on each
/// scrape (so they only grow while rows are kept, which is what Prometheus expects of a counter or histogram).
/// Bytes transferred are in <see cref="TransferMetrics"/>.
/// </summary>
internal static class PhaseMetrics
{
    private static readonly string[] Outcomes = ["succeeded", "BuildFailure", "Timeout", "Infrastructure", "Rejected", "cancelled"];

    private static readonly double[] Buckets = [0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 4 * 3600];

    public static async Task RenderAsync(StringBuilder sb, LifecycleDatabase db, CancellationToken ct)
    {
        var (queued, phases, outcomes) = await db.RunAsync(async s =>
        {
            var q = await BuildStatistics.QueuedSecondsAsync(s);
            var p = await AttemptPhaseTable.ListAsync(s);
            var o = await BuildStatistics.FinishedByOutcomeAsync(s);
            return (q, p, o);
        }, ct);
        MetricsEndpoint.Family(sb, "buildfarm_builds_finished_total", "Finished builds by outcome (succeeded, cancelled, or the failure kind).", "counter");
        foreach (var outcome in Outcomes.Union(outcomes.Select(o => o.Item1)))
            MetricsEndpoint.Sample(sb, "buildfarm_builds_finished_total", [("outcome", outcome)], outcomes.Where(o => o.Item1 == outcome).Sum(o => o.Item2));
        const string name = "buildfarm_phase_seconds";
        MetricsEndpoint.Family(sb, name, "Phase durations: queued (submit to claim), input_fetch, build and upload (as workers report them), import (dispatcher accepting a result).", "histogram");
        Histogram(sb, name, "queued", queued);
        Histogram(sb, name, "input_fetch", phases.Select(p => p.InputFetch.TotalSeconds).ToList());
        Histogram(sb, name, "build", phases.Select(p => p.Build.TotalSeconds).ToList());
        Histogram(sb, name, "upload", phases.Select(p => p.Upload.TotalSeconds).ToList());
        Histogram(sb, name, "import", phases.Select(p => p.Accept.TotalSeconds).ToList());
    }

    private static void Histogram(StringBuilder sb, string name, string phase, List<double> values)
    {
        foreach (var le in Buckets)
            MetricsEndpoint.Sample(sb, name + "_bucket", [("phase", phase), ("le", le.ToString(CultureInfo.InvariantCulture))], values.Count(v => v <= le));
        MetricsEndpoint.Sample(sb, name + "_bucket", [("phase", phase), ("le", "+Inf")], values.Count);
        MetricsEndpoint.Sample(sb, name + "_sum", [("phase", phase)], Math.Round(values.Sum(), 3));
        MetricsEndpoint.Sample(sb, name + "_count", [("phase", phase)], values.Count);
    }
}
