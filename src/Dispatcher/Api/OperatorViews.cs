using BuildFarm.Dispatcher.Lifecycle;
using BuildFarm.Dispatcher.Metrics;
using BuildFarm.Messaging.Routing;

namespace BuildFarm.Dispatcher.Api;

/// <summary>Read-only aggregates for the overview, the queues and the build timeline, computed from the DB per request.</summary>
internal sealed class OperatorViews(LifecycleDatabase db, BuildViews views, TimeProvider time)
{
    /// <summary>A worker whose last this many finished attempts include at least <see cref="FailingMin"/> failures, half or more, is failing.</summary>
    private const int FailingWindow = 10;

    private const int FailingMin = 3;

    public Task<ThroughputView> ThroughputAsync(int minutes, CancellationToken cancellationToken) => db.RunAsync(async s =>
    {
        var now = time.GetUtcNow();
        var end = DateTimeOffset.FromUnixTimeMilliseconds(BuildTable.Ms(now) / 60_000 * 60_000 + 60_000);
        var from = end.AddMinutes(-minutes);
        var rows = await s.QueryAsync("SELECT finished_at, state FROM builds WHERE finished_at >= $from",
            r => (At: r.GetInt64(0), State: r.GetString(1)), ("$from", BuildTable.Ms(from)));
        var points = Enumerable.Range(0, minutes).Select(i => from.AddMinutes(i)).Select(at =>
        {
            var inBucket = rows.Where(r => r.At >= BuildTable.Ms(at) && r.At < BuildTable.Ms(at) + 60_000).ToArray();
            return new ThroughputPoint(at, inBucket.Count(r => r.State == BuildState.Succeeded), inBucket.Count(r => r.State == BuildState.Failed),
                inBucket.Count(r => r.State == BuildState.Cancelled));
        }).ToArray();
        return new ThroughputView(from, minutes, points);
    }, cancellationToken);

    /// <summary>
    /// Queued and running counts at the end of each minute, rebuilt from the builds' own timestamps (no sampling): a
    /// build was queued from submission until its current attempt started, and running from then until it finished.
    /// A retried build counts as running since its latest start, so the gap between its attempts is not shown as queued.
    /// </summary>
    public Task<BacklogView> BacklogAsync(int minutes, CancellationToken cancellationToken) => db.RunAsync(async s =>
    {
        var now = BuildTable.Ms(time.GetUtcNow());
        var end = now / 60_000 * 60_000 + 60_000;
        var from = end - minutes * 60_000L;
        var rows = await s.QueryAsync(
            "SELECT submitted_at, started_at, finished_at FROM builds WHERE submitted_at < $end AND (finished_at IS NULL OR finished_at >= $from)",
            r => (Submitted: r.GetInt64(0), Started: r.IsDBNull(1) ? (long?)null : r.GetInt64(1), Finished: r.IsDBNull(2) ? (long?)null : r.GetInt64(2)),
            ("$end", end), ("$from", from));
        var points = Enumerable.Range(1, minutes).Select(i =>
        {
            // The last point is "now", not the end of the current minute, which has not happened yet.
            var at = Math.Min(from + i * 60_000L, now);
            var alive = rows.Where(r => r.Submitted <= at && (r.Finished is null || r.Finished > at)).ToArray();
            var running = alive.Count(r => r.Started is { } st && st <= at);
            return new BacklogPoint(DateTimeOffset.FromUnixTimeMilliseconds(at), alive.Length - running, running);
        }).ToArray();
        return new BacklogView(DateTimeOffset.FromUnixTimeMilliseconds(from), minutes, points);
    }, cancellationToken);

    public Task<ClassRatesView> ClassRatesAsync(int minutes, CancellationToken cancellationToken) => db.RunAsync(async s =>
    {
        var from = BuildTable.Ms(time.GetUtcNow().AddMinutes(-minutes));
        var rows = await s.QueryAsync(
            "SELECT system, features, submitted_at, finished_at FROM builds WHERE submitted_at >= $from OR finished_at >= $from",
            r => (Class: ClassKey(r.GetString(0), r.GetString(1)), In: r.GetInt64(2) >= from, Out: !r.IsDBNull(3) && r.GetInt64(3) >= from),
            ("$from", from));
        var classes = rows.GroupBy(r => r.Class, StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g =>
        {
            int submitted = g.Count(r => r.In), finished = g.Count(r => r.Out);
            return new ClassRateView(g.Key, Math.Round((double)submitted / minutes, 3), Math.Round((double)finished / minutes, 3), submitted, finished);
        }).ToArray();
        return new ClassRatesView(minutes, classes);
    }, cancellationToken);

    public Task<PhasesView?> PhasesAsync(Guid id, CancellationToken cancellationToken) => db.RunAsync(async s =>
    {
        var b = await BuildTable.GetAsync(s, id);
        if (b is null)
            return null;
        var now = time.GetUtcNow();
        var attempts = (await AttemptTable.ListAsync(s, id)).Where(a => a.Outcome != "ignored").ToArray();
        var reported = await ObservationTables.PhasesAsync(s, id);
        var phases = new List<PhaseView>();
        var firstStart = attempts.Select(a => a.StartedAt).FirstOrDefault(t => t is not null);
        var queuedEnd = firstStart ?? b.FinishedAt;
        phases.Add(new PhaseView("queued", null, b.SubmittedAt, Seconds(b.SubmittedAt, queuedEnd ?? now), queuedEnd is null));
        foreach (var a in attempts)
        {
            var start = a.StartedAt;
            var p = reported.FirstOrDefault(x => x.Attempt == a.Attempt && x.Worker == a.Worker);
            if (p is null)
            {
                var end = a.FinishedAt ?? (a.Outcome == "running" ? null : b.FinishedAt);
                var label = attempts.Length > 1 ? $"attempt {a.Attempt} ({a.Outcome})" : a.Outcome == "running" ? "running" : "run";
                phases.Add(new PhaseView(label, a.Worker, start, start is null ? 0 : Seconds(start.Value, end ?? now), end is null));
                continue;
            }

            // The worker reports durations, not instants: lay them end to end from the claim.
            var t = start;
            foreach (var (name, length) in new[] { ("input fetch", p.InputFetch), ("build", p.Build), ("upload", p.Upload) })
            {
                phases.Add(new PhaseView(name, a.Worker, t, length.TotalSeconds, false));
                t = t?.Add(length);
            }

            phases.Add(new PhaseView("import", null, a.FinishedAt, p.Accept.TotalSeconds, false));
        }

        return new PhasesView(id, phases);
    }, cancellationToken);

    public async Task<List<AlertView>> AlertsAsync(CancellationToken cancellationToken)
    {
        var alerts = new List<AlertView>();
        var now = time.GetUtcNow();
        foreach (var c in await views.ClassesAsync(cancellationToken))
        {
            if (c.Queued > 0 && c.OnlineWorkers.Count == 0)
                alerts.Add(new AlertView("no-capable-worker", "error", c.Key,
                    $"{c.Queued} build(s) of class {c.Key} wait and no online worker can run it"
                    + (c.CapableWorkers.Count == 0 ? " (no known worker is capable)" : $" (capable but offline: {string.Join(", ", c.CapableWorkers)})")));
        }

        var workers = await views.WorkersAsync(cancellationToken);
        foreach (var w in workers.Where(w => !w.Online && w.State == WorkerTable.Online))
            alerts.Add(new AlertView("worker-silent", "warning", w.Name,
                $"worker {w.Name} not heard from for {Age(now - w.LastSeen)} (last heartbeat {w.LastSeen:u})"));
        // Only each worker's last FailingWindow finished attempts leave the DB (the overview polls this).
        var recent = await db.RunAsync(s => s.QueryAsync(
            """
            SELECT worker, outcome FROM (
                SELECT worker, outcome, id, ROW_NUMBER() OVER (PARTITION BY worker ORDER BY id DESC) AS n
                FROM attempts WHERE outcome NOT IN ('running', 'ignored', 'cancelled'))
            WHERE n <= $window ORDER BY id DESC
            """,
            r => (Worker: r.GetString(0), Outcome: r.GetString(1)), ("$window", FailingWindow)), cancellationToken);
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

    public static string Age(TimeSpan t) =>
        t.TotalSeconds < 90 ? $"{t.TotalSeconds:0} s" : t.TotalMinutes < 90 ? $"{t.TotalMinutes:0} min" : t.TotalHours < 48 ? $"{t.TotalHours:0.#} h" : $"{t.TotalDays:0.#} d";

    private static double Seconds(DateTimeOffset from, DateTimeOffset to) => Math.Max(0, (to - from).TotalSeconds);

    private static string ClassKey(string system, string features)
    {
        try
        {
            return new BuildClass(system, features.Split(' ', StringSplitOptions.RemoveEmptyEntries)).Key;
        }
        catch (ArgumentException)
        {
            // A row no BuildClass accepts (the database was edited): keyed in the same shape, so it still groups alone.
            return system + (features.Length == 0 ? "" : "." + features.Replace(' ', '+'));
        }
    }
}
