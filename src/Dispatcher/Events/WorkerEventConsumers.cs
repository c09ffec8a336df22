using BuildFarm.Contracts.Workers;
using BuildFarm.Dispatcher.Lifecycle;
using MassTransit;

namespace BuildFarm.Dispatcher.Events;

/// <summary>Heartbeats register workers and renew the leases of the builds they list (idempotent).</summary>
/// <remarks>A heartbeat is applied only when signed by the worker's bound key (<see cref="WorkerEventAuthenticator"/>).</remarks>
internal sealed class WorkerStatusReportedConsumer(BuildLifecycle lifecycle, Metrics.EventObserver observer, WorkerEventAuthenticator auth) : IConsumer<WorkerStatusReported>
{
    public async Task Consume(ConsumeContext<WorkerStatusReported> context)
    {
        if (await auth.AcceptAsync(context.Message.WorkerName, context.Message, context.CancellationToken, () => EventMembers.Unknown(context)))
            await observer.HeartbeatAsync(context.Message, ct => lifecycle.OnStatusAsync(context.Message, ct), context.CancellationToken);
    }
}

internal sealed class WorkerWentOfflineConsumer(BuildLifecycle lifecycle, WorkerEventAuthenticator auth) : IConsumer<WorkerWentOffline>
{
    public async Task Consume(ConsumeContext<WorkerWentOffline> context)
    {
        if (await auth.AcceptAsync(context.Message.WorkerName, context.Message, context.CancellationToken, () => EventMembers.Unknown(context)))
            await lifecycle.OnWentOfflineAsync(context.Message, context.CancellationToken);
    }
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
