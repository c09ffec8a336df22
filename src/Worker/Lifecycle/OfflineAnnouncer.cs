using BuildFarm.Contracts.Workers;
using BuildFarm.Worker.Configuration;
using BuildFarm.Worker.Events;
using Microsoft.Extensions.Options;
using Serilog;

namespace BuildFarm.Worker.Lifecycle;

/// <summary>Publishes WorkerWentOffline exactly once per process, whichever way it stops.</summary>
internal sealed class OfflineAnnouncer(IOptions<WorkerOptions> options, EventPublisher events, TimeProvider time, ILogger logger)
{
    private int _announced;

    public async Task AnnounceOnceAsync(string reason, CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _announced, 1) == 1)
            return;
        try
        {
            using var budget = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            budget.CancelAfter(TimeSpan.FromSeconds(15));
            await events.PublishAsync(new WorkerWentOffline(options.Value.Name, reason, time.GetUtcNow()), budget.Token);
            logger.Information("Worker {Worker} went offline: {Reason}", options.Value.Name, reason);
        }
        catch (OperationCanceledException)
        {
            logger.Warning("Could not announce going offline ({Reason}); the dispatcher will notice the missing heartbeats", reason);
        }
    }
}
