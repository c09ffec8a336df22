using BuildFarm.Dispatcher.Lifecycle;
using BuildFarm.Dispatcher.Registry;
using BuildFarm.Messaging.Routing;

namespace BuildFarm.Dispatcher.Api;

/// <summary>A routing class: its queue, who can run it, and what waits in it.</summary>
public sealed record ClassView(string Key, string Queue, string System, IReadOnlyList<string> Features, IReadOnlyList<string> CapableWorkers, IReadOnlyList<string> OnlineWorkers, int Queued, int Running);

/// <summary>Read side of routing classes (<c>GET /api/classes</c>, the alerts and <c>/metrics</c>).</summary>
internal sealed class ClassViews(BuildLifecycle lifecycle, WorkerViews workerViews, TimeProvider time)
{
    /// <summary>
    /// Every class some remembered worker consumes or some unfinished build waits in. Classes are shown without
    /// contract marks (<see cref="ContractRouting"/>): the queues of one class's versions are one class here, whose
    /// capable workers are those that take it at some version.
    /// </summary>
    public Task<List<ClassView>> ListAsync(CancellationToken cancellationToken) => lifecycle.Database.ReadAsync(async s =>
    {
        var now = time.GetUtcNow();
        var workers = await workerViews.RememberedAsync(s, now);
        // Counted by SQLite per class and state (a few rows), not read build by build: a backlog of 100,000 builds
        // made every page that shows classes (the queue, alerts, /metrics) read 100,000 rows with their derivations.
        var open = await BuildStatistics.OpenPerClassAsync(s);
        var counts = open.GroupBy(r => BuildRecord.ClassOf(r.System, r.Features, r.Trusted))
            .ToDictionary(g => g.Key, g => (Queued: g.Where(r => r.State == BuildState.Queued).Sum(r => r.Count), Running: g.Where(r => r.State == BuildState.Running).Sum(r => r.Count)));
        var classes = workers.SelectMany(w => SafeClasses(w)).Select(ContractRouting.Unversioned).Concat(counts.Keys)
            .Distinct().OrderBy(c => c.Key, StringComparer.Ordinal);
        return classes.Select(c =>
        {
            var capable = CapacityCheck.Capable(workers, c);
            var inClass = counts.GetValueOrDefault(c);
            return new ClassView(c.Key, c.QueueName, c.System, c.Features, capable.Select(w => w.Name).ToArray(),
                capable.Where(w => workerViews.IsOnline(w, now)).Select(w => w.Name).ToArray(), (int)inClass.Queued, (int)inClass.Running);
        }).ToList();
    }, cancellationToken);

    private static IEnumerable<BuildClass> SafeClasses(WorkerRecord w)
    {
        try
        {
            return CapabilityMatcher.EnumerateClasses(w.Capabilities);
        }
        catch (ArgumentException)
        {
            return [];
        }
    }
}
