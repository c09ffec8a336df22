using BuildFarm.Contracts.Workers;
using BuildFarm.Worker.Configuration;
using BuildFarm.Worker.Events;
using Microsoft.Extensions.Options;
using Serilog;

namespace BuildFarm.Worker.Lifecycle;

/// <summary>
/// Publishes WorkerWentOffline exactly once per process, whichever way it stops, and keeps heartbeats from following
/// it: a beat confirmed after the goodbye would list the worker as online again until it went silent ("dead").
/// Heartbeats and the goodbye take turns on one gate, so the broker receives every beat before the goodbye.
/// </summary>
internal sealed class OfflineAnnouncer(IOptions<WorkerOptions> options, EventPublisher events, TimeProvider time, ILogger logger) : IDisposable
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private int _announced;

    /// <summary>Publishes a heartbeat through <paramref name="publish"/> unless the goodbye was already said.</summary>
    public async Task BeatWhileOnlineAsync(Func<CancellationToken, Task> publish, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            if (Volatile.Read(ref _announced) == 0)
                await publish(cancellationToken);
        }
        finally
        {
            _gate.Release();
        }
    }

    public async Task AnnounceOnceAsync(string reason, CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _announced, 1) == 1)
            return;
        try
        {
            using var budget = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            budget.CancelAfter(TimeSpan.FromSeconds(15));
            // A beat in flight finishes first; none starts after this (they see _announced).
            await _gate.WaitAsync(budget.Token);
            try
            {
                await events.PublishAsync(new WorkerWentOffline(options.Value.Name, reason, time.GetUtcNow()), budget.Token);
            }
            finally
            {
                _gate.Release();
            }

            logger.Information("Worker {Worker} went offline: {Reason}", options.Value.Name, reason);
        }
        catch (OperationCanceledException)
        {
            logger.Warning("Could not announce going offline ({Reason}); the dispatcher will notice the missing heartbeats", reason);
        }
    }

    public void Dispose() => _gate.Dispose();
}
