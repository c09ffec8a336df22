using BuildFarm.Dispatcher.Lifecycle;

namespace BuildFarm.Dispatcher.Api;

/// <summary>Something an operator should look at: <c>no-capable-worker</c>, <c>worker-silent</c>, <c>worker-failing</c>.</summary>
public sealed record AlertView(string Kind, string Severity, string Subject, string Message);

/// <summary><c>GET /api/alerts</c>, computed from the classes, the workers and their recent attempts per request.</summary>
internal sealed class AlertViews(LifecycleDatabase db, ClassViews classViews, WorkerViews workerViews, TimeProvider time)
{
    /// <summary>A worker whose last this many finished attempts include at least <see cref="FailingMin"/> failures, half or more, is failing.</summary>
    private const int FailingWindow = 10;

    private const int FailingMin = 3;

    public async Task<List<AlertView>> ListAsync(CancellationToken cancellationToken)
    {
        var alerts = new List<AlertView>();
        var now = time.GetUtcNow();
        foreach (var c in await classViews.ListAsync(cancellationToken))
        {
            if (c.Queued > 0 && c.OnlineWorkers.Count == 0)
                alerts.Add(new AlertView("no-capable-worker", "error", c.Key,
                    $"{c.Queued} build(s) of class {c.Key} wait and no online worker can run it"
                    + (c.CapableWorkers.Count == 0 ? " (no known worker is capable)" : $" (capable but offline: {string.Join(", ", c.CapableWorkers)})")));
        }

        var workers = await workerViews.ListAsync(cancellationToken);
        foreach (var w in workers.Where(w => !w.Online && w.State == WorkerTable.Online))
            alerts.Add(new AlertView("worker-silent", "warning", w.Name,
                $"worker {w.Name} not heard from for {Age(now - w.LastSeen)} (last heartbeat {w.LastSeen:u})"));
        var recent = await db.ReadAsync(s => AttemptTable.RecentOutcomesAsync(s, FailingWindow), cancellationToken);
        foreach (var w in workers)
        {
            var last = recent.Where(r => r.Worker == w.Name).Take(FailingWindow).ToArray();
            var failures = last.Count(r => r.Outcome != "succeeded");
            if (failures >= FailingMin && failures * 2 >= last.Length)
                alerts.Add(new AlertView("worker-failing", "warning", w.Name,
                    $"worker {w.Name} failed {failures} of its last {last.Length} attempts ({string.Join(", ", last.Where(r => r.Outcome != "succeeded").Select(r => r.Outcome).Distinct())})"));
        }

        return alerts;
    }

    private static string Age(TimeSpan t) =>
        t.TotalSeconds < 90 ? $"{t.TotalSeconds:0} s" : t.TotalMinutes < 90 ? $"{t.TotalMinutes:0} min" : t.TotalHours < 48 ? $"{t.TotalHours:0.#} h" : $"{t.TotalDays:0.#} d";
}
