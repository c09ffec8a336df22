using BuildFarm.Contracts.Builds;
using BuildFarm.Dispatcher.Lifecycle;
using MassTransit;

namespace BuildFarm.Dispatcher.Events;

// Delivery: MassTransit acks each event after Consume returns, i.e. after the lifecycle's transaction committed.
// A crash in between redelivers the event; every handler is idempotent (claims, results and log chunks are keyed
// by build, attempt and worker), so a redelivery changes nothing.

internal sealed class BuildStartedConsumer(BuildLifecycle lifecycle) : IConsumer<BuildStarted>
{
    public Task Consume(ConsumeContext<BuildStarted> context) => lifecycle.OnStartedAsync(context.Message, context.CancellationToken);
}

internal sealed class BuildLogEmittedConsumer(BuildLifecycle lifecycle) : IConsumer<BuildLogEmitted>
{
    public Task Consume(ConsumeContext<BuildLogEmitted> context) => lifecycle.OnLogAsync(context.Message, context.CancellationToken);
}

/// <summary>A success with outputs to import is acked once recorded as pending (<see cref="ResultImports"/>); any other is handled here.</summary>
internal sealed class BuildSucceededConsumer(BuildLifecycle lifecycle, Metrics.EventObserver observer, ResultImports imports) : IConsumer<BuildSucceeded>
{
    public async Task Consume(ConsumeContext<BuildSucceeded> context)
    {
        if (await imports.TryDeferAsync(context.Message, context.CancellationToken))
            return;
        await observer.SucceededAsync(context.Message, ct => lifecycle.OnSucceededAsync(context.Message, ct), context.CancellationToken);
    }
}

internal sealed class BuildFailedConsumer(BuildLifecycle lifecycle) : IConsumer<BuildFailed>
{
    public Task Consume(ConsumeContext<BuildFailed> context) => lifecycle.OnFailedAsync(context.Message, context.CancellationToken);
}
