using BuildFarm.Contracts.Builds;
using BuildFarm.Contracts.Workers;
using BuildFarm.Dispatcher.Lifecycle;
using Serilog;

namespace BuildFarm.Dispatcher.Metrics;

/// <summary>
/// Keeps what the monitoring needs from events after the lifecycle handled them: phase timings and input bytes of
/// successful attempts and each worker's heartbeat clock. Best effort: a failure here is logged and never fails the event
/// (the lifecycle's transaction already committed; redelivery would only rewrite the same row).
/// </summary>
internal sealed class EventObserver(LifecycleDatabase db, TimeProvider time, WorkerStoreReports? stores = null)
{
    /// <summary>Runs the lifecycle's handler (its exceptions propagate: the event is then redelivered), then records.</summary>
    public async Task SucceededAsync(BuildSucceeded e, Func<CancellationToken, Task> handle, CancellationToken cancellationToken)
    {
        var started = time.GetTimestamp();
        await handle(cancellationToken);
        var accept = time.GetElapsedTime(started);
        try
        {
            await db.RunAsync(async s =>
            {
                await AttemptPhaseTable.RecordAsync(s, new AttemptPhases(
                    e.BuildId, e.Attempt, e.WorkerName, e.Timings.InputFetch, e.Timings.Build, e.Timings.Upload, accept));
                // Null from a worker that predates the field: nothing known, so nothing counted (not a zero).
                if (e.InputBytesFetched is { } fetched)
                    await AttemptTransferTable.RecordInputBytesAsync(s, e.BuildId, e.Attempt, e.WorkerName, fetched);
            }, cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            Log.Warning(ex, "Could not record the phase timings of {BuildId} attempt {Attempt}", e.BuildId, e.Attempt);
        }
    }

    public async Task HeartbeatAsync(WorkerStatusReported e, Func<CancellationToken, Task> handle, CancellationToken cancellationToken)
    {
        await handle(cancellationToken);
        stores?.Record(e);
        try
        {
            await db.RunAsync(s => WorkerClockTable.RecordAsync(s, new HeartbeatClock(e.WorkerName, e.SentAt, time.GetUtcNow())), cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            Log.Warning(ex, "Could not record the heartbeat clock of {Worker}", e.WorkerName);
        }
    }
}
