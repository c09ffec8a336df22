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
        var rows = await BuildStatistics.FinishedSinceAsync(s, BuildTable.Ms(from));
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
        var rows = await BuildStatistics.AliveBetweenAsync(s, from, end);
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
        var rows = (await BuildStatistics.ActiveSinceAsync(s, from))
            .Select(r => (Class: ClassKey(r.System, r.Features), In: r.Submitted >= from, Out: r.Finished >= from));
        var classes = rows.GroupBy(r => r.Class, StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g =>
        {
            int submitted = g.Count(r => r.In), finished = g.Count(r => r.Out);
            return new ClassRateView(g.Key, Math.Round((double)submitted / minutes, 3), Math.Round((double)finished / minutes, 3), submitted, finished);
        }).ToArray();
        return new ClassRatesView(minutes, classes);
    }, cancellationToken);

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
