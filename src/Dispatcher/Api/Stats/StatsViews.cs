using BuildFarm.Dispatcher.Lifecycle;
using BuildFarm.Messaging.Routing;

namespace BuildFarm.Dispatcher.Api;

/// <summary>
/// The charts of <c>/api/stats</c>: aggregates over the builds' own timestamps, from the per-minute counts the triggers keep
/// (<see cref="BuildMinuteTable"/>), on a reader connection (never queued behind the lifecycle's writes).
/// </summary>
internal sealed class StatsViews(LifecycleDatabase db, TimeProvider time)
{
    public Task<ThroughputView> ThroughputAsync(int minutes, CancellationToken cancellationToken) => db.ReadAsync(async s =>
    {
        var now = time.GetUtcNow();
        var end = DateTimeOffset.FromUnixTimeMilliseconds(BuildTable.Ms(now) / 60_000 * 60_000 + 60_000);
        var from = end.AddMinutes(-minutes);
        var fromMinute = BuildTable.Ms(from) / 60_000;
        var counts = (await BuildMinuteTable.FinishedSinceAsync(s, fromMinute)).Where(r => r.Minute - fromMinute < minutes).ToDictionary(r => r.Minute - fromMinute);
        var points = Enumerable.Range(0, minutes).Select(i => counts.TryGetValue(i, out var c)
            ? new ThroughputPoint(from.AddMinutes(i), (int)c.Succeeded, (int)c.Failed, (int)c.Cancelled)
            : new ThroughputPoint(from.AddMinutes(i), 0, 0, 0)).ToArray();
        return new ThroughputView(from, minutes, points);
    }, cancellationToken);

    /// <summary>
    /// Queued and running counts at the end of each minute, from the builds' own timestamps (no sampling): a build was
    /// queued from submission until its current attempt started, and running from then until it finished. Counted
    /// backwards from now: the builds open now, minus those submitted (started) after a point, plus those finished after
    /// it (<see cref="BuildMinuteTable"/>: minutes × classes rows, however many builds the window holds). A retried build
    /// counts as running since its latest start, so the gap between its attempts is not shown as queued; a timestamp
    /// exactly on a minute's end counts as after it.
    /// </summary>
    public Task<BacklogView> BacklogAsync(int minutes, CancellationToken cancellationToken) => db.ReadAsync(async s =>
    {
        var now = BuildTable.Ms(time.GetUtcNow());
        var end = now / 60_000 * 60_000 + 60_000;
        var from = end - minutes * 60_000L;
        var open = (await BuildStatistics.OpenPerClassAsync(s)).ToLookup(r => r.State);
        long aliveNow = open[BuildState.Queued].Sum(r => r.Count) + open[BuildState.Running].Sum(r => r.Count);
        long runningNow = open[BuildState.Running].Sum(r => r.Count);
        var changes = (await BuildMinuteTable.ChangesSinceAsync(s, from / 60_000)).OrderByDescending(r => r.Minute).ToArray();
        // Points ascending (the last is "now", not the end of the current minute, which has not happened yet); each
        // point's minute key: what happened at or after it is in the rows of that key and later.
        var points = new BacklogPoint[minutes];
        long submittedAfter = 0, startedAfter = 0, finishedAfter = 0, finishedStartedAfter = 0;
        var next = 0;
        for (var i = minutes - 1; i >= 0; i--)
        {
            var at = Math.Min(from + (i + 1) * 60_000L, now);
            var key = at == now ? now / 60_000 + 1 : at / 60_000;
            for (; next < changes.Length && changes[next].Minute >= key; next++)
            {
                submittedAfter += changes[next].Submitted;
                startedAfter += changes[next].Started;
                finishedAfter += changes[next].Finished;
                finishedStartedAfter += changes[next].FinishedStarted;
            }

            var alive = aliveNow - submittedAfter + finishedAfter;
            var running = runningNow - startedAfter + finishedStartedAfter;
            points[i] = new BacklogPoint(DateTimeOffset.FromUnixTimeMilliseconds(at), (int)(alive - running), (int)running);
        }

        return new BacklogView(DateTimeOffset.FromUnixTimeMilliseconds(from), minutes, points);
    }, cancellationToken);

    public Task<ClassRatesView> ClassRatesAsync(int minutes, CancellationToken cancellationToken) => db.ReadAsync(async s =>
    {
        var from = BuildTable.Ms(time.GetUtcNow().AddMinutes(-minutes));
        // The first, partial minute from the builds' indexes (exact), the whole minutes after it from their counts.
        var nextMinute = (from / 60_000 + 1) * 60_000;
        var rows = (await BuildStatistics.ClassActivityBetweenAsync(s, from, nextMinute))
            .Concat(await BuildMinuteTable.ClassesSinceAsync(s, nextMinute / 60_000));
        var classes = rows
            .GroupBy(r => ClassKey(r.System, r.Features), StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g =>
            {
                long submitted = g.Sum(r => r.Submitted), finished = g.Sum(r => r.Finished);
                return new ClassRateView(g.Key, Math.Round((double)submitted / minutes, 3), Math.Round((double)finished / minutes, 3), (int)submitted, (int)finished);
            }).Where(c => c.Submitted > 0 || c.Finished > 0).ToArray();
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
