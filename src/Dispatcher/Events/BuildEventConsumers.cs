using BuildFarm.Contracts.Builds;
using BuildFarm.Dispatcher.Lifecycle;
using MassTransit;

namespace BuildFarm.Dispatcher.Events;

// Delivery: MassTransit acks each event after Consume returns, i.e. after the lifecycle's transaction committed.
// A crash in between redelivers the event; every handler is idempotent (claims, results and log chunks are keyed
// by build, attempt and worker), so a redelivery changes nothing. Every event is first checked to speak for the
// worker it names (WorkerEventAuthenticator); one that does not is logged and acked without being applied.

internal sealed class BuildStartedConsumer(BuildLifecycle lifecycle, WorkerEventAuthenticator auth) : IConsumer<BuildStarted>
{
    public async Task Consume(ConsumeContext<BuildStarted> context)
    {
        if (await auth.AcceptAsync(context.Message.WorkerName, context.Message, context.CancellationToken, () => EventMembers.Unknown(context)))
            await lifecycle.OnStartedAsync(context.Message, context.CancellationToken);
    }
}

internal sealed class BuildLogEmittedConsumer(BuildLifecycle lifecycle, WorkerEventAuthenticator auth) : IConsumer<BuildLogEmitted>
{
    public async Task Consume(ConsumeContext<BuildLogEmitted> context)
    {
        if (await auth.AcceptAsync(context.Message.WorkerName, context.Message, context.CancellationToken, () => EventMembers.Unknown(context)))
            await lifecycle.OnLogAsync(context.Message, context.CancellationToken);
    }
}

/// <summary>
/// Checked to speak for its worker first; then a success with outputs to import is acked once recorded as pending
/// (<see cref="ResultImports"/>); any other is handled here.
/// </summary>
internal sealed class BuildSucceededConsumer(BuildLifecycle lifecycle, Metrics.EventObserver observer, ResultImports imports, WorkerEventAuthenticator auth) : IConsumer<BuildSucceeded>
{
    public async Task Consume(ConsumeContext<BuildSucceeded> context)
    {
        if (!await auth.AcceptAsync(context.Message.WorkerName, context.Message, context.CancellationToken, () => EventMembers.Unknown(context)))
            return;
        if (await imports.TryDeferAsync(context.Message, context.CancellationToken))
            return;
        await observer.SucceededAsync(context.Message, (record, ct) => lifecycle.OnSucceededAsync(context.Message, ct, record: record), context.CancellationToken);
    }
}

internal sealed class BuildFailedConsumer(BuildLifecycle lifecycle, WorkerEventAuthenticator auth) : IConsumer<BuildFailed>
{
    public async Task Consume(ConsumeContext<BuildFailed> context)
    {
        if (await auth.AcceptAsync(context.Message.WorkerName, context.Message, context.CancellationToken, () => EventMembers.Unknown(context)))
            await lifecycle.OnFailedAsync(context.Message, context.CancellationToken);
    }
}

/// <summary>A worker refused a copy of a request as too old: republished fresh when the attempt is still wanted.</summary>
internal sealed class BuildRequestExpiredConsumer(BuildLifecycle lifecycle, WorkerEventAuthenticator auth) : IConsumer<BuildRequestExpired>
{
    public async Task Consume(ConsumeContext<BuildRequestExpired> context)
    {
        if (await auth.AcceptAsync(context.Message.WorkerName, context.Message, context.CancellationToken, () => EventMembers.Unknown(context)))
            await lifecycle.OnRequestExpiredAsync(context.Message, context.CancellationToken);
    }
}
