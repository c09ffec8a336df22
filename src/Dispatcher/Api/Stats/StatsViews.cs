using BuildFarm.Dispatcher.Lifecycle;
using BuildFarm.Messaging.Routing;

namespace BuildFarm.Dispatcher.Api;

/// <summary>The charts of <c>/api/stats</c>: aggregates over the builds' own timestamps, computed per request.</summary>
internal sealed class StatsViews(LifecycleDatabase db, TimeProvider time)
{
    public Task<ThroughputView> ThroughputAsync(int minutes, CancellationToken cancellationToken) => db.RunAsync(async s =>
    {
        var now = time.GetUtcNow();
        var end = DateTimeOffset.FromUnixTimeMilliseconds(BuildTable.Ms(now) / 60_000 * 60_000 + 60_000);
        var from = end.AddMinutes(-minutes);
        var counts = (await BuildStatistics.FinishedPerMinuteAsync(s, BuildTable.Ms(from)))
            .Where(r => r.Bucket < minutes).ToLookup(r => r.Bucket);
        long Count(long bucket, string state) => counts[bucket].Where(r => r.State == state).Sum(r => r.Count);
        var points = Enumerable.Range(0, minutes).Select(i => new ThroughputPoint(from.AddMinutes(i),
            (int)Count(i, BuildState.Succeeded), (int)Count(i, BuildState.Failed), (int)Count(i, BuildState.Cancelled))).ToArray();
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
        var rows = await BuildStatistics.AliveBetweenAsync(s, from, end);
        // The minute ends, ascending (the last is "now", not the end of the current minute, which has not happened yet).
        var at = Enumerable.Range(1, minutes).Select(i => Math.Min(from + i * 60_000L, now)).ToArray();
        // Each build adds 1 to the points in [first point at or after it began, first point at or after it finished):
        // difference arrays, so the cost is rows + minutes, not rows × minutes.
        var alive = new long[minutes + 1];
        var running = new long[minutes + 1];
        foreach (var r in rows)
        {
            var until = r.Finished is { } f ? FirstAtOrAfter(at, f) : minutes;
            Mark(alive, FirstAtOrAfter(at, r.Submitted), until);
            if (r.Started is { } st)
                Mark(running, FirstAtOrAfter(at, st), until);
        }

        long queuedNow = 0, runningNow = 0;
        var points = new BacklogPoint[minutes];
        for (var i = 0; i < minutes; i++)
        {
            queuedNow += alive[i];
            runningNow += running[i];
            points[i] = new BacklogPoint(DateTimeOffset.FromUnixTimeMilliseconds(at[i]), (int)(queuedNow - runningNow), (int)runningNow);
        }

        return new BacklogView(DateTimeOffset.FromUnixTimeMilliseconds(from), minutes, points);
    }, cancellationToken);

    public Task<ClassRatesView> ClassRatesAsync(int minutes, CancellationToken cancellationToken) => db.RunAsync(async s =>
    {
        var from = BuildTable.Ms(time.GetUtcNow().AddMinutes(-minutes));
        var classes = (await BuildStatistics.ClassActivitySinceAsync(s, from))
            .GroupBy(r => ClassKey(r.System, r.Features), StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g =>
            {
                long submitted = g.Sum(r => r.Submitted), finished = g.Sum(r => r.Finished);
                return new ClassRateView(g.Key, Math.Round((double)submitted / minutes, 3), Math.Round((double)finished / minutes, 3), (int)submitted, (int)finished);
            }).ToArray();
        return new ClassRatesView(minutes, classes);
    }, cancellationToken);

    /// <summary>Adds 1 to the points [<paramref name="from"/>, <paramref name="until"/>) of a difference array.</summary>
    private static void Mark(long[] diff, int from, int until)
    {
        if (from >= until)
            return;
        diff[from]++;
        diff[until]--;
    }

    /// <summary>The index of the first point at or after <paramref name="t"/> (points.Length when none).</summary>
    private static int FirstAtOrAfter(long[] points, long t)
    {
        var i = Array.BinarySearch(points, t);
        if (i < 0)
            return ~i;
        // Equal points (the last one is capped at now) : the first of them.
        while (i > 0 && points[i - 1] == t)
            i--;
        return i;
    }

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
