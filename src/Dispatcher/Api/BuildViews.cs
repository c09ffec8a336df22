using BuildFarm.Dispatcher.Lifecycle;
using BuildFarm.Dispatcher.Registry;
using BuildFarm.Messaging.Routing;

namespace BuildFarm.Dispatcher.Api;

/// <summary>Read side of the API: rows to views, including the computed waiting reason.</summary>
internal sealed class BuildViews(BuildLifecycle lifecycle, TimeProvider time, BuildFarm.Dispatcher.Ui.UiOptions ui)
{
    public Task<BuildView?> GetAsync(Guid id, CancellationToken cancellationToken) => lifecycle.Database.RunAsync(async s =>
    {
        var b = await BuildTable.GetAsync(s, id);
        if (b is null)
            return null;
        var workers = await WorkerTable.ListAsync(s);
        var attempts = await AttemptTable.ListAsync(s, id);
        var outputs = await OutputTable.ListAsync(s, id);
        return ToView(b, workers, attempts, outputs);
    }, cancellationToken);

    public Task<List<BuildView>> RecentAsync(int limit, CancellationToken cancellationToken) => lifecycle.Database.RunAsync(async s =>
    {
        var workers = await WorkerTable.ListAsync(s);
        return (await BuildTable.RecentAsync(s, limit)).Select(b => ToView(b, workers, [], [])).ToList();
    }, cancellationToken);

    public Task<LogView?> LogAsync(Guid id, long after, CancellationToken cancellationToken) => lifecycle.Database.RunAsync(async s =>
    {
        var b = await BuildTable.GetAsync(s, id);
        if (b is null)
            return null;
        var chunks = await LogTable.ReadAsync(s, id, after, 1000);
        return new LogView(chunks.Select(c => new LogChunkView(c.Seq, c.Attempt, c.Worker, c.Text)).ToArray(), chunks.Count == 0 ? after : chunks[^1].Seq, b.State);
    }, cancellationToken);

    public Task<List<WorkerView>> WorkersAsync(CancellationToken cancellationToken) => lifecycle.Database.RunAsync(async s =>
    {
        var now = time.GetUtcNow();
        return Remembered(await WorkerTable.ListAsync(s), now).Select(w => new WorkerView(
            w.Name, w.Capabilities.Systems, w.Capabilities.SupportedFeatures, w.Capabilities.MandatoryFeatures, w.Capabilities.Slots,
            w.Capabilities.SpeedFactor, w.State, CapacityCheck.IsOnline(w, now, lifecycle.Settings.OnlineWindow), w.FirstSeen, w.LastSeen,
            w.Version, w.Load, w.FreeDiskBytes, w.Draining, w.Paused, w.Note, w.BuildsDone, w.BuildsFailed)).ToList();
    }, cancellationToken);

    /// <summary>Every class some worker consumes or some unfinished build waits in.</summary>
    public Task<List<ClassView>> ClassesAsync(CancellationToken cancellationToken) => lifecycle.Database.RunAsync(async s =>
    {
        var now = time.GetUtcNow();
        var workers = Remembered(await WorkerTable.ListAsync(s), now).ToList();
        var open = await BuildTable.ListAsync(s, "state IN ('queued', 'running')");
        var classes = workers.SelectMany(w => SafeClasses(w)).Concat(open.Select(b => new BuildClass(b.System, b.Features)))
            .Distinct().OrderBy(c => c.Key, StringComparer.Ordinal);
        return classes.Select(c =>
        {
            var capable = CapacityCheck.Capable(workers, c);
            var inClass = open.Where(b => new BuildClass(b.System, b.Features).Equals(c)).ToArray();
            return new ClassView(c.Key, c.QueueName, c.System, c.Features, capable.Select(w => w.Name).ToArray(),
                capable.Where(w => CapacityCheck.IsOnline(w, now, lifecycle.Settings.OnlineWindow)).Select(w => w.Name).ToArray(),
                inClass.Count(b => b.State == BuildState.Queued), inClass.Count(b => b.State == BuildState.Running));
        }).ToList();
    }, cancellationToken);

    /// <summary>
    /// Workers silent for longer than Ui:ForgetDeadWorkersAfter are aged out of every view (workers, classes and the
    /// alerts built on them, metrics, probe); their row stays.
    /// </summary>
    private IEnumerable<WorkerRecord> Remembered(IEnumerable<WorkerRecord> workers, DateTimeOffset now) =>
        workers.Where(w => now - w.LastSeen <= ui.ForgetDeadWorkersAfter);

    private BuildView ToView(BuildRecord b, IReadOnlyList<WorkerRecord> workers, IEnumerable<AttemptRecord> attempts, IEnumerable<OutputRecord> outputs)
    {
        var buildClass = new BuildClass(b.System, b.Features);
        string? waiting = null;
        if (b.State == BuildState.Queued)
        {
            var now = time.GetUtcNow();
            if (!CapacityCheck.Capable(workers, buildClass).Any(w => CapacityCheck.IsOnline(w, now, lifecycle.Settings.OnlineWindow)))
                waiting = CapacityCheck.NoCapableWorkerOnline;
            else if (!b.Published)
                waiting = "waiting: not yet confirmed by the broker";
        }

        return new BuildView(b.Id, b.DrvPath, b.System, b.Features, buildClass.Key, b.State, b.Attempt, b.Published, b.Worker, b.Priority,
            waiting, b.FailureKind, b.FailureReason, b.ExitCode, b.SubmittedAt, b.PublishedAt, b.StartedAt, b.FinishedAt, b.LeaseExpiresAt,
            b.LogTruncated, attempts.Select(a => new AttemptView(a.Attempt, a.Worker, a.StartedAt, a.FinishedAt, a.Outcome, a.Reason, a.ExitCode)).ToArray(),
            outputs.Select(o => new OutputView(o.Name, o.Path, o.NarHash, o.NarSize, o.References, o.Signatures)).ToArray());
    }

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
