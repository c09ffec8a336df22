using System.Collections.Concurrent;
using System.Threading.Channels;
using BuildFarm.Contracts.Builds;
using BuildFarm.Dispatcher.Lifecycle;
using BuildFarm.Dispatcher.Metrics;
using Microsoft.Extensions.Hosting;
using Serilog;

namespace BuildFarm.Dispatcher.Events;

/// <summary>
/// Imports the outputs of successful builds in parallel lanes, off the event queue. The events endpoint handles one
/// event at a time, in queue order (a build's claim, log and result stay in order); an import (signature and content
/// checks, restore, registration in the origin store) takes far longer than any other event, so done inline it held
/// every other event back and made the farm import one build at a time. The consumer records the success as a
/// pending result and acks it (<see cref="BuildLifecycle.DeferSucceededAsync"/>); a lane imports it and commits the
/// verdict, deleting the row in the same transaction. Pending rows left by a restart are resumed at start-up; an
/// import that throws is retried after a pause (its row stays until a verdict is committed).
/// </summary>
internal sealed class ResultImports(BuildLifecycle lifecycle, EventObserver observer, TimeProvider time, int lanes) : BackgroundService
{
    private static readonly TimeSpan RetryAfter = TimeSpan.FromSeconds(5);
    private readonly Channel<BuildSucceeded> _queue = Channel.CreateUnbounded<BuildSucceeded>();
    private readonly ConcurrentDictionary<(Guid, int, string), byte> _queued = new();

    /// <summary>True when the success is now pending here; false when it needs no import and the caller handles it.</summary>
    public async Task<bool> TryDeferAsync(BuildSucceeded e, CancellationToken cancellationToken)
    {
        if (!await lifecycle.DeferSucceededAsync(e, cancellationToken))
            return false;
        Enqueue(e);
        return true;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            foreach (var e in await lifecycle.PendingResultsAsync(stoppingToken))
                Enqueue(e);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            return;
        }

        await Task.WhenAll(Enumerable.Range(0, lanes).Select(_ => Task.Run(() => LaneAsync(stoppingToken), CancellationToken.None)));
    }

    private void Enqueue(BuildSucceeded e)
    {
        // A redelivered event, or a row resumed at start-up that its event also brought, is imported once.
        if (_queued.TryAdd(Key(e), 0))
            _queue.Writer.TryWrite(e);
    }

    private async Task LaneAsync(CancellationToken stoppingToken)
    {
        try
        {
            await foreach (var e in _queue.Reader.ReadAllAsync(stoppingToken))
            {
                try
                {
                    await observer.SucceededAsync(e, (record, ct) => lifecycle.OnSucceededAsync(e, ct, pending: true, record), stoppingToken);
                    _queued.TryRemove(Key(e), out _);
                }
                catch (Exception ex) when (ex is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
                {
                    Log.ForContext("BuildId", e.BuildId).Error(ex, "Import of {BuildId} attempt {Attempt} from {Worker} failed; retrying in {Delay}",
                        e.BuildId, e.Attempt, e.WorkerName, RetryAfter);
                    _ = RetryLaterAsync(e, stoppingToken);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping: whatever is pending stays in its row for the next start.
        }
    }

    private async Task RetryLaterAsync(BuildSucceeded e, CancellationToken stoppingToken)
    {
        try
        {
            await Task.Delay(RetryAfter, time, stoppingToken);
            _queue.Writer.TryWrite(e);
        }
        catch (OperationCanceledException)
        {
        }
    }

    private static (Guid, int, string) Key(BuildSucceeded e) => (e.BuildId, e.Attempt, e.WorkerName);
}
