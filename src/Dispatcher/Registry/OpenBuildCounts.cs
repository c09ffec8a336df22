using BuildFarm.Dispatcher.Lifecycle;
using BuildFarm.Messaging.Routing;

namespace BuildFarm.Dispatcher.Registry;

/// <summary>
/// What a hook's decision needs of the unfinished builds (<see cref="HookDecider"/>), counted by SQLite from indexes:
/// queued builds per class, running builds per worker, and the queued requests the broker has not confirmed for a
/// while. A few rows whatever the backlog, where reading every open build with its derivation cost the hook's question
/// seconds with 100,000 queued (docs/PERFORMANCE.md#scale).
/// </summary>
internal sealed record OpenBuildCounts(
    IReadOnlyDictionary<BuildClass, long> QueuedPerClass,
    IReadOnlyDictionary<string, long> RunningPerWorker,
    long Unconfirmed,
    DateTimeOffset? OldestUnconfirmed)
{
    public static OpenBuildCounts None { get; } = new(new Dictionary<BuildClass, long>(), new Dictionary<string, long>(StringComparer.Ordinal), 0, null);

    /// <param name="s">A reader session.</param>
    /// <param name="unconfirmedBefore">Queued builds submitted before this and still unconfirmed by the broker count as <see cref="Unconfirmed"/>.</param>
    public static async Task<OpenBuildCounts> ReadAsync(DbSession s, DateTimeOffset unconfirmedBefore)
    {
        var queued = (await BuildStatistics.OpenPerClassAsync(s)).Where(r => r.State == BuildState.Queued)
            .GroupBy(r => BuildRecord.ClassOf(r.System, r.Features, r.Trusted)).ToDictionary(g => g.Key, g => g.Sum(r => r.Count));
        var running = (await BuildStatistics.RunningByWorkerAsync(s)).ToDictionary(r => r.Worker, r => r.Count, StringComparer.Ordinal);
        // The partial index is these rows (normally none); left to itself SQLite prefers builds_state_submitted, which
        // reads every queued row older than $before to test `published`: ~20 ms per decision with 15,000 queued.
        var (count, oldest) = (await s.QueryAsync(
            "SELECT COUNT(*), MIN(submitted_at) FROM builds INDEXED BY builds_unconfirmed WHERE state = 'queued' AND published = 0 AND submitted_at < $before",
            r => (r.GetInt64(0), BuildTable.FromMs(r, 1)), ("$before", BuildTable.Ms(unconfirmedBefore)))).Single();
        return new(queued, running, count, oldest);
    }

    /// <summary>The same from build records in memory.</summary>
    public static OpenBuildCounts Of(IEnumerable<BuildRecord> open, DateTimeOffset unconfirmedBefore)
    {
        var list = open.ToArray();
        var unconfirmed = list.Where(b => b.State == BuildState.Queued && !b.Published && b.SubmittedAt < unconfirmedBefore).ToArray();
        return new(
            list.Where(b => b.State == BuildState.Queued).GroupBy(b => b.Class).ToDictionary(g => g.Key, g => (long)g.Count()),
            list.Where(b => b.State == BuildState.Running && b.Worker is not null).GroupBy(b => b.Worker!, StringComparer.Ordinal)
                .ToDictionary(g => g.Key, g => (long)g.Count(), StringComparer.Ordinal),
            unconfirmed.Length, unconfirmed.Length == 0 ? null : unconfirmed.Min(b => b.SubmittedAt));
    }
}
