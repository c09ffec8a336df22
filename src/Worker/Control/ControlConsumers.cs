using BuildFarm.Contracts.Builds;
using BuildFarm.Contracts.Workers;
using BuildFarm.Worker.Configuration;
using BuildFarm.Worker.Lifecycle;
using MassTransit;
using Microsoft.Extensions.Options;
using Serilog;

namespace BuildFarm.Worker.Control;

// Every worker receives every control command on its own auto-deleted endpoint and keeps the ones meant for it:
// commands to a worker by name, CancelBuild by the builds it runs. A worker that is offline misses them, which is
// right: it runs nothing then. A command meant for this worker is acted on only when CommandVerifier finds it signed
// by the trusted dispatcher and fresh; otherwise it is logged and dropped (acked: a forgery is not worth redelivering).

/// <summary>Kills the whole process tree of a build running here.</summary>
internal sealed class CancelBuildConsumer(IOptions<WorkerOptions> options, RunningBuilds running, CommandVerifier verifier, ILogger logger) : IConsumer<CancelBuild>
{
    public Task Consume(ConsumeContext<CancelBuild> context)
    {
        var m = context.Message;
        // WorkerName/Attempt narrow the cancel (e.g. the loser of a duplicate claim): another worker's or another
        // attempt's cancel must not kill this build.
        if ((m.WorkerName is null || m.WorkerName == options.Value.Name)
            && running.TryGet(m.BuildId, out var handle) && (m.Attempt is null || m.Attempt == handle!.Attempt)
            && verifier.Accept(m, m.IssuedAt))
        {
            logger.Information("Cancelling {BuildId} ({DrvPath}): {Reason}", handle!.BuildId, handle.DrvPath, context.Message.Reason);
            handle.Cancel(context.Message.Reason);
        }

        return Task.CompletedTask;
    }
}

internal sealed class DrainWorkerConsumer(IOptions<WorkerOptions> options, DrainCoordinator drain, CommandVerifier verifier) : IConsumer<DrainWorker>
{
    public Task Consume(ConsumeContext<DrainWorker> context)
    {
        if (context.Message.WorkerName == options.Value.Name && verifier.Accept(context.Message, context.Message.IssuedAt))
            drain.BeginDrain("DrainWorker" + (context.Message.Note is { } note ? ": " + note : ""));
        return Task.CompletedTask;
    }
}

internal sealed class PauseWorkerConsumer(IOptions<WorkerOptions> options, WorkerState state, CommandVerifier verifier, ILogger logger) : IConsumer<PauseWorker>
{
    public Task Consume(ConsumeContext<PauseWorker> context)
    {
        if (context.Message.WorkerName != options.Value.Name || !verifier.Accept(context.Message, context.Message.IssuedAt))
            return Task.CompletedTask;
        logger.Information("Paused: {Note}", context.Message.Note);
        state.Pause(context.Message.Note);
        return Task.CompletedTask;
    }
}

internal sealed class ResumeWorkerConsumer(IOptions<WorkerOptions> options, WorkerState state, CommandVerifier verifier, ILogger logger) : IConsumer<ResumeWorker>
{
    public Task Consume(ConsumeContext<ResumeWorker> context)
    {
        if (context.Message.WorkerName != options.Value.Name || !verifier.Accept(context.Message, context.Message.IssuedAt))
            return Task.CompletedTask;
        logger.Information("Resumed");
        state.Resume();
        return Task.CompletedTask;
    }
}
