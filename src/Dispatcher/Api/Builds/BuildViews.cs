using BuildFarm.Contracts.Builds;
using BuildFarm.Contracts.Workers;
using BuildFarm.Dispatcher.Lifecycle;
using BuildFarm.Dispatcher.Registry;
using BuildFarm.Messaging.Routing;

namespace BuildFarm.Dispatcher.Api;

/// <summary>Read side of builds: rows to views, including the computed waiting reason and the build's timeline.</summary>
internal sealed class BuildViews(BuildLifecycle lifecycle, TimeProvider time)
{
    public Task<BuildView?> GetAsync(Guid id, CancellationToken cancellationToken) => lifecycle.Database.ReadAsync(async s =>
    {
        var b = await BuildTable.GetAsync(s, id);
        if (b is null)
            return null;
        var online = b.State == BuildState.Queued ? await OnlineCapabilitiesAsync(s) : [];
        var attempts = await AttemptTable.ListAsync(s, id);
        var outputs = await OutputTable.ListAsync(s, id);
        return ToView(b, online, attempts, outputs);
    }, cancellationToken);

    /// <summary>A build's state and waiting reason only (the answer to a submission): no attempts, outputs or timeline read.</summary>
    public Task<(string State, string? WaitingReason)?> StateAsync(Guid id, CancellationToken cancellationToken) => lifecycle.Database.ReadAsync(async s =>
    {
        if (await BuildTable.GetAsync(s, id) is not { } b)
            return ((string, string?)?)null;
        var view = ToView(b, b.State == BuildState.Queued ? await OnlineCapabilitiesAsync(s) : [], [], []);
        return (view.State, view.WaitingReason);
    }, cancellationToken);

    public Task<List<BuildView>> RecentAsync(int limit, CancellationToken cancellationToken) => lifecycle.Database.ReadAsync(async s =>
    {
        var online = await OnlineCapabilitiesAsync(s);
        return (await BuildTable.RecentAsync(s, limit)).Select(b => ToView(b, online, [], [])).ToList();
    }, cancellationToken);

    public Task<LogView?> LogAsync(Guid id, long after, CancellationToken cancellationToken) => lifecycle.Database.ReadAsync(async s =>
    {
        var b = await BuildTable.GetAsync(s, id);
        if (b is null)
            return null;
        var chunks = await LogTable.ReadAsync(s, id, after, 1000);
        return new LogView(chunks.Select(c => new LogChunkView(c.Seq, c.Attempt, c.Worker, c.Text)).ToArray(), chunks.Count == 0 ? after : chunks[^1].Seq, b.State);
    }, cancellationToken);

    public Task<PhasesView?> PhasesAsync(Guid id, CancellationToken cancellationToken) => lifecycle.Database.ReadAsync(async s =>
    {
        var b = await BuildTable.GetAsync(s, id);
        if (b is null)
            return null;
        var now = time.GetUtcNow();
        var attempts = (await AttemptTable.ListAsync(s, id)).Where(a => a.Outcome != "ignored").ToArray();
        var reported = await AttemptPhaseTable.ListAsync(s, id);
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

    private static double Seconds(DateTimeOffset from, DateTimeOffset to) => Math.Max(0, (to - from).TotalSeconds);

    /// <summary>The capability sets of the online workers (<see cref="CapacityCheck.IsOnline"/>): what a queued build's waiting reason needs.</summary>
    private Task<IReadOnlyList<WorkerCapabilities>> OnlineCapabilitiesAsync(DbSession s) =>
        WorkerTable.CapabilitiesAsync(s, time.GetUtcNow() - lifecycle.Settings.OnlineWindow);

    private static BuildView ToView(BuildRecord b, IReadOnlyList<WorkerCapabilities> online, IEnumerable<AttemptRecord> attempts, IEnumerable<OutputRecord> outputs)
    {
        var buildClass = b.Class;
        string? waiting = null;
        if (b.State == BuildState.Queued)
        {
            if (!online.Any(c => CapabilityMatcher.CanRun(c, buildClass)))
                waiting = CapacityCheck.NoCapableWorkerOnline;
            else if (!b.Published)
                waiting = "waiting: not yet confirmed by the broker";
        }

        return new BuildView(b.Id, b.DrvPath, b.System, b.Features, buildClass.Key, b.State, b.Attempt, b.Published, b.Worker, b.Priority,
            waiting, b.FailureKind, b.FailureReason, b.ExitCode, b.SubmittedAt, b.PublishedAt, b.StartedAt, b.FinishedAt, b.LeaseExpiresAt,
            b.LogTruncated, attempts.Select(a => new AttemptView(a.Attempt, a.Worker, a.StartedAt, a.FinishedAt, a.Outcome, a.Reason, a.ExitCode, IsolationName(a.Isolation))).ToArray(),
            outputs.Select(o => new OutputView(o.Name, o.Path, o.NarHash, o.NarSize, o.References, o.Signatures)).ToArray(),
            b.Trusted, IsolationName(b.Isolation));
    }

    /// <summary>The API's word for an isolation: <c>sandboxed</c>, <c>unsandboxed</c>, <c>none</c>; null when unknown.</summary>
    public static string? IsolationName(BuildIsolation? isolation) => isolation?.ToString().ToLowerInvariant();
}
