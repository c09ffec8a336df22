using BuildFarm.Contracts.Builds;
using BuildFarm.Contracts.Workers;
using BuildFarm.Dispatcher.Lifecycle;
using Serilog;

namespace BuildFarm.Dispatcher.Metrics;

/// <summary>
/// Keeps what the monitoring needs from events after the lifecycle handled them: phase timings and input bytes of
/// successful attempts and each worker's heartbeat clock. Best effort: a failure here is logged and never fails the event
/// (a success's timings are rolled back alone, in a savepoint of its verdict's transaction; a heartbeat's clock is
/// written after the lifecycle's commit; redelivery would only rewrite the same row).
/// </summary>
internal sealed class EventObserver(LifecycleDatabase db, TimeProvider time, WorkerStoreReports? stores = null)
{
    /// <summary>A worker's clock further than this from the dispatcher's is logged as a warning (once, until it comes back).</summary>
    internal static readonly TimeSpan SkewWarning = TimeSpan.FromMinutes(1);
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, bool> _skewed = new(StringComparer.Ordinal);

    /// <summary>
    /// Runs the lifecycle's handler (its exceptions propagate: the event is then redelivered), which runs the recorder
    /// it is given in its verdict's transaction (<see cref="BuildLifecycle.OnSucceededAsync"/>): the phase timings and
    /// input bytes, so a success costs one commit, not two. Still best effort: the recorder runs in a savepoint, and its
    /// failure is logged and rolled back alone, never the verdict's. Accept time is measured up to that point of the
    /// transaction, not to its commit.
    /// </summary>
    public async Task SucceededAsync(BuildSucceeded e, Func<Func<DbSession, Task>, CancellationToken, Task> handle, CancellationToken cancellationToken)
    {
        var started = time.GetTimestamp();
        await handle(s => RecordInAsync(s, e, time.GetElapsedTime(started)), cancellationToken);
    }

    private static async Task RecordInAsync(DbSession s, BuildSucceeded e, TimeSpan accept)
    {
        await s.ExecuteAsync("SAVEPOINT phase_timings");
        try
        {
            await RecordAsync(s, e, accept);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            Log.Warning(ex, "Could not record the phase timings of {BuildId} attempt {Attempt}", e.BuildId, e.Attempt);
            await s.ExecuteAsync("ROLLBACK TO phase_timings");
        }

        await s.ExecuteAsync("RELEASE phase_timings");
    }

    private static async Task RecordAsync(DbSession s, BuildSucceeded e, TimeSpan accept)
    {
        await AttemptPhaseTable.RecordAsync(s, new AttemptPhases(
            e.BuildId, e.Attempt, e.WorkerName, e.Timings.InputFetch, e.Timings.Build, e.Timings.Upload, accept));
        // Null from a worker that predates the field: nothing known, so nothing counted (not a zero).
        if (e.InputBytesFetched is { } fetched)
            await AttemptTransferTable.RecordInputBytesAsync(s, e.BuildId, e.Attempt, e.WorkerName, fetched);
    }

    public async Task HeartbeatAsync(WorkerStatusReported e, Func<CancellationToken, Task> handle, CancellationToken cancellationToken)
    {
        await handle(cancellationToken);
        stores?.Record(e);
        try
        {
            var clock = new HeartbeatClock(e.WorkerName, e.SentAt, time.GetUtcNow());
            await db.RunAsync(s => WorkerClockTable.RecordAsync(s, clock), cancellationToken);
            ObserveSkew(clock);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            Log.Warning(ex, "Could not record the heartbeat clock of {Worker}", e.WorkerName);
        }
    }

    /// <summary>
    /// Leases, lease expiry and request ages are all judged by the dispatcher's clock, so a skewed worker loses nothing;
    /// but its refusals (requests from its future; commands, until it learnt the dispatcher's clock) come from its own clock: say so once.
    /// </summary>
    private void ObserveSkew(HeartbeatClock clock)
    {
        var skewed = clock.Skew.Duration() > SkewWarning;
        if (_skewed.TryGetValue(clock.Worker, out var was) ? was == skewed : !skewed)
        {
            _skewed[clock.Worker] = skewed;
            return;
        }

        _skewed[clock.Worker] = skewed;
        if (skewed)
        {
            var ahead = clock.Skew > TimeSpan.Zero;
            Log.Warning("Worker {Worker}'s clock is {SkewSeconds:0} s {Direction} the dispatcher's (more than {Limit}): fix its time sync; {Consequence}",
                clock.Worker, clock.Skew.Duration().TotalSeconds, ahead ? "ahead of" : "behind", SkewWarning,
                ahead
                    ? "past its Freshness:MaxCommandAge it judges control commands by the dispatcher's clock learnt from its signed messages, and refuses them until it got one"
                    : "past its Freshness:ClockSkew it sees requests as issued in its future, requeues them and pauses itself");
        }
        else
        {
            Log.Information("Worker {Worker}'s clock agrees with the dispatcher's again ({SkewSeconds:0.0} s)", clock.Worker, clock.Skew.TotalSeconds);
        }
    }
}
