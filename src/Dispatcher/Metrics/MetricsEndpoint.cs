using System.Globalization;
using System.Text;
using BuildFarm.Dispatcher.Api;
using BuildFarm.Dispatcher.Lifecycle;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace BuildFarm.Dispatcher.Metrics;

/// <summary>
/// <c>/metrics</c> (Prometheus text format 0.0.4), computed from the lifecycle DB on each scrape, and <c>/health</c>
/// (200 when the DB answers). Gauges, counters and histograms alike are computed from stored rows, never held in
/// memory: the DB is the truth, so a restart resets no counter.
/// </summary>
internal static class MetricsEndpoint
{
    public static IEndpointRouteBuilder MapMetrics(this IEndpointRouteBuilder app)
    {
        app.MapGet("/metrics", async (LifecycleDatabase db, WorkerViews workerViews, ClassViews classViews, CancellationToken ct) =>
            Results.Text(await RenderAsync(db, workerViews, classViews, ct), "text/plain; version=0.0.4; charset=utf-8"));
        app.MapGet("/health", async (LifecycleDatabase db, CancellationToken ct) =>
        {
            await db.RunAsync(s => s.ScalarAsync("SELECT 1"), ct);
            return Results.Ok(new { status = "ok" });
        });
        return app;
    }

    public static async Task<string> RenderAsync(LifecycleDatabase db, WorkerViews workerViews, ClassViews classViews, CancellationToken ct)
    {
        var byState = await db.RunAsync(BuildStatistics.CountByStateAsync, ct);
        var byOutcome = await db.RunAsync(AttemptTable.CountByOutcomeAsync, ct);
        var running = await db.RunAsync(BuildStatistics.RunningByWorkerAsync, ct);
        var classes = await classViews.ListAsync(ct);
        var workers = await workerViews.ListAsync(ct);
        var sb = new StringBuilder();
        Family(sb, "buildfarm_builds", "Builds in the database by state.");
        foreach (var state in new[] { "queued", "running", "succeeded", "failed", "cancelled" })
            Sample(sb, "buildfarm_builds", [("state", state)], byState.Where(x => x.Item1 == state).Sum(x => x.Item2));
        Family(sb, "buildfarm_queue_depth", "Queued builds per routing class.");
        foreach (var c in classes)
            Sample(sb, "buildfarm_queue_depth", [("class", c.Key)], c.Queued);
        Family(sb, "buildfarm_class_online_workers", "Online workers able to run each class.");
        foreach (var c in classes)
            Sample(sb, "buildfarm_class_online_workers", [("class", c.Key)], c.OnlineWorkers.Count);
        Family(sb, "buildfarm_worker_slots", "Build slots a worker offers.");
        foreach (var w in workers)
            Sample(sb, "buildfarm_worker_slots", [("worker", w.Name)], w.Slots);
        Family(sb, "buildfarm_worker_slots_used", "Builds the dispatcher sees running on a worker.");
        foreach (var w in workers)
            Sample(sb, "buildfarm_worker_slots_used", [("worker", w.Name)], running.Where(x => x.Item1 == w.Name).Sum(x => x.Item2));
        Family(sb, "buildfarm_worker_online", "1 when the worker's last heartbeat is recent.");
        foreach (var w in workers)
            Sample(sb, "buildfarm_worker_online", [("worker", w.Name)], w.Online ? 1 : 0);
        Family(sb, "buildfarm_attempts", "Build attempts by outcome (including ignored duplicates).");
        foreach (var (outcome, n) in byOutcome)
            Sample(sb, "buildfarm_attempts", [("outcome", outcome)], n);
        var online = workers.Where(w => w.Online).ToArray();
        Family(sb, "buildfarm_slots", "Build slots offered by online workers.");
        Sample(sb, "buildfarm_slots", [], online.Sum(w => w.Slots));
        Family(sb, "buildfarm_slots_used", "Builds running on online workers.");
        Sample(sb, "buildfarm_slots_used", [], online.Sum(w => running.Where(x => x.Item1 == w.Name).Sum(x => x.Item2)));
        var (joined, alreadyValid) = await db.RunAsync(WaiterTable.SavedAsync, ct);
        Family(sb, "buildfarm_builds_saved_total", "Builds not run because the work was done once: a request joined the same derivation in flight, or its outputs were already valid in the origin store.", "counter");
        Sample(sb, "buildfarm_builds_saved_total", [("reason", "joined")], joined);
        Sample(sb, "buildfarm_builds_saved_total", [("reason", "already_valid")], alreadyValid);
        await PhaseMetrics.RenderAsync(sb, db, ct);
        await TransferMetrics.RenderAsync(sb, db, ct);
        return sb.ToString();
    }

    public static void Family(StringBuilder sb, string name, string help, string type = "gauge") =>
        sb.Append("# HELP ").Append(name).Append(' ').Append(help).Append("\n# TYPE ").Append(name).Append(' ').Append(type).Append('\n');

    public static void Sample(StringBuilder sb, string name, (string Key, string Value)[] labels, double value)
    {
        sb.Append(name);
        if (labels.Length > 0)
        {
            sb.Append('{');
            sb.AppendJoin(',', labels.Select(l => l.Key + "=\"" + l.Value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal) + "\""));
            sb.Append('}');
        }

        sb.Append(' ').Append(value.ToString(CultureInfo.InvariantCulture)).Append('\n');
    }
}
