using BuildFarm.Contracts.Builds;
using BuildFarm.Contracts.Workers;
using BuildFarm.Dispatcher.Lifecycle;
using MassTransit;

namespace BuildFarm.Dispatcher.Events;

/// <summary>
/// Control commands as MassTransit publishes (fan out to every worker's temporary endpoint; workers filter by
/// name or by the builds they run). A publish returns once the broker confirmed it (MassTransit's default).
/// </summary>
internal sealed class MassTransitControlPublisher(IBus bus) : IControlPublisher
{
    public Task CancelBuildAsync(CancelBuild command, CancellationToken cancellationToken) => bus.Publish(command, cancellationToken);

    public Task DrainAsync(DrainWorker command, CancellationToken cancellationToken) => bus.Publish(command, cancellationToken);

    public Task PauseAsync(PauseWorker command, CancellationToken cancellationToken) => bus.Publish(command, cancellationToken);

    public Task ResumeAsync(ResumeWorker command, CancellationToken cancellationToken) => bus.Publish(command, cancellationToken);

    public Task ProbeAsync(ProbeWorkers command, CancellationToken cancellationToken) => bus.Publish(command, cancellationToken);
}
