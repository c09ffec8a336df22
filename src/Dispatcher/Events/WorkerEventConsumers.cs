using BuildFarm.Contracts.Workers;
using BuildFarm.Dispatcher.Lifecycle;
using MassTransit;

namespace BuildFarm.Dispatcher.Events;

/// <summary>Heartbeats register workers and renew the leases of the builds they list (idempotent).</summary>
internal sealed class WorkerStatusReportedConsumer(BuildLifecycle lifecycle, Metrics.EventObserver observer) : IConsumer<WorkerStatusReported>
{
    public Task Consume(ConsumeContext<WorkerStatusReported> context) => observer.HeartbeatAsync(context.Message, ct => lifecycle.OnStatusAsync(context.Message, ct), context.CancellationToken);
}

internal sealed class WorkerWentOfflineConsumer(BuildLifecycle lifecycle) : IConsumer<WorkerWentOffline>
{
    public Task Consume(ConsumeContext<WorkerWentOffline> context) => lifecycle.OnWentOfflineAsync(context.Message, context.CancellationToken);
}

/// <summary>Answers to a live probe go to the waiting <c>GET /api/workers/probe</c>; nothing is stored.</summary>
internal sealed class WorkerProbedConsumer(Api.ProbeReplies replies) : IConsumer<WorkerProbed>
{
    public Task Consume(ConsumeContext<WorkerProbed> context)
    {
        replies.Deliver(context.Message);
        return Task.CompletedTask;
    }
}
