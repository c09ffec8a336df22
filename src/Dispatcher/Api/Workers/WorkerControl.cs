using BuildFarm.Contracts.Workers;
using BuildFarm.Dispatcher.Events;

namespace BuildFarm.Dispatcher.Api;

/// <summary>Drain / pause / resume commands to one worker (<c>POST /api/workers/{name}/drain|pause|resume</c>) and the live probe of all.</summary>
internal interface IWorkerControl
{
    Task DrainAsync(string worker, string? note, CancellationToken cancellationToken);

    Task PauseAsync(string worker, string? note, CancellationToken cancellationToken);

    Task ResumeAsync(string worker, CancellationToken cancellationToken);

    /// <summary>Asks every live worker to answer <paramref name="probe"/> (a broadcast, not one worker).</summary>
    Task ProbeAsync(ProbeWorkers probe, CancellationToken cancellationToken);
}

/// <summary>Over the dispatcher's MassTransit publisher: each call returns once the broker confirmed the publish.</summary>
internal sealed class MassTransitWorkerControl(MassTransitControlPublisher publisher) : IWorkerControl
{
    public Task DrainAsync(string worker, string? note, CancellationToken cancellationToken) => publisher.DrainAsync(new DrainWorker(worker, note), cancellationToken);

    public Task PauseAsync(string worker, string? note, CancellationToken cancellationToken) => publisher.PauseAsync(new PauseWorker(worker, note), cancellationToken);

    public Task ResumeAsync(string worker, CancellationToken cancellationToken) => publisher.ResumeAsync(new ResumeWorker(worker), cancellationToken);

    public Task ProbeAsync(ProbeWorkers probe, CancellationToken cancellationToken) => publisher.ProbeAsync(probe, cancellationToken);
}
