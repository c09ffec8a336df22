using BuildFarm.Contracts.Builds;
using BuildFarm.Contracts.Workers;
using BuildFarm.Dispatcher.Lifecycle;
using BuildFarm.Dispatcher.Publishing;
using MassTransit;

namespace BuildFarm.Dispatcher.Events;

/// <summary>
/// Control commands as MassTransit publishes (fan out to every worker's temporary endpoint; workers filter by
/// name or by the builds they run). Each is stamped with the dispatcher's clock and signed with its request key
/// (<see cref="RequestSigner"/>), so workers act only on fresh commands from the dispatcher they trust; each gets a new
/// <c>CommandId</c> (signed), which a worker applies once (a replay within the freshness window is refused). A publish
/// returns once the broker confirmed it (MassTransit's default).
/// </summary>
internal sealed class MassTransitControlPublisher(IBus bus, RequestSigner signer, TimeProvider time) : IControlPublisher
{
    public Task CancelBuildAsync(CancelBuild command, CancellationToken cancellationToken) =>
        bus.Publish(signer.Sign(command with { IssuedAt = time.GetUtcNow(), CommandId = Guid.NewGuid() }), cancellationToken);

    public Task DrainAsync(DrainWorker command, CancellationToken cancellationToken) =>
        bus.Publish(signer.Sign(command with { IssuedAt = time.GetUtcNow(), CommandId = Guid.NewGuid() }), cancellationToken);

    public Task PauseAsync(PauseWorker command, CancellationToken cancellationToken) =>
        bus.Publish(signer.Sign(command with { IssuedAt = time.GetUtcNow(), CommandId = Guid.NewGuid() }), cancellationToken);

    public Task ResumeAsync(ResumeWorker command, CancellationToken cancellationToken) =>
        bus.Publish(signer.Sign(command with { IssuedAt = time.GetUtcNow(), CommandId = Guid.NewGuid() }), cancellationToken);

    public Task ProbeAsync(ProbeWorkers command, CancellationToken cancellationToken) =>
        bus.Publish(signer.Sign(command), cancellationToken);
}
