using BuildFarm.Worker.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Serilog;

namespace BuildFarm.Worker.Lifecycle;

/// <summary>
/// The two ways to stop. Drain (first SIGTERM or DrainWorker): take no new builds, finish running ones, announce
/// WorkerWentOffline("drained"), stop the host (exit 0). Abort (second SIGTERM): kill running builds, each reported
/// as BuildFailed(Infrastructure, "worker aborted"), then stop.
/// </summary>
internal sealed class DrainCoordinator(
    IOptions<WorkerOptions> options,
    WorkerState state,
    RunningBuilds running,
    OfflineAnnouncer offline,
    IHostApplicationLifetime lifetime,
    ILogger logger)
{
    private readonly ILogger _log = logger.ForContext<DrainCoordinator>();
    private int _finishing;

    public void BeginDrain(string why)
    {
        if (!state.BeginDrain(why))
            return;
        _log.Information("Draining {Worker} ({Why}): no new builds, waiting for {Running} running", options.Value.Name, why, running.Count);
        running.Emptied += Finish;
        if (running.IsIdle)
            Finish();
    }

    public void Abort(string why)
    {
        if (!state.BeginAbort())
            return;
        _log.Warning("Aborting {Worker} ({Why}): killing {Running} running builds", options.Value.Name, why, running.Count);
        foreach (var handle in running.Handles())
            handle.Cancel("worker aborted");
        lifetime.StopApplication();
    }

    private void Finish()
    {
        if (!running.IsIdle || Interlocked.Exchange(ref _finishing, 1) == 1)
            return;
        _ = Task.Run(async () =>
        {
            await offline.AnnounceOnceAsync("drained", CancellationToken.None);
            lifetime.StopApplication();
        });
    }
}
