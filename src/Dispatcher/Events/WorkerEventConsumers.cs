using BuildFarm.Contracts.Workers;
using BuildFarm.Dispatcher.Lifecycle;
using MassTransit;

namespace BuildFarm.Dispatcher.Events;

/// <summary>Heartbeats register workers and renew the leases of the builds they list (idempotent).</summary>
internal sealed class WorkerStatusReportedConsumer(BuildLifecycle lifecycle) : IConsumer<WorkerStatusReported>
{
    public Task Consume(ConsumeContext<WorkerStatusReported> context) => lifecycle.OnStatusAsync(context.Message, context.CancellationToken);
}

internal sealed class WorkerWentOfflineConsumer(BuildLifecycle lifecycle) : IConsumer<WorkerWentOffline>
{
    public Task Consume(ConsumeContext<WorkerWentOffline> context) => lifecycle.OnWentOfflineAsync(context.Message, context.CancellationToken);
}
