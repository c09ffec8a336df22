using Microsoft.Extensions.Hosting;
using Serilog;

namespace BuildFarm.Dispatcher.Lifecycle;

/// <summary>
/// Start-up: republishes builds whose row was written but whose publish was never confirmed (the dispatcher died in
/// between). Then, every <paramref name="interval"/>: expires leases and retries unconfirmed publishes.
/// </summary>
internal sealed class LeaseSweeper(BuildLifecycle lifecycle, TimeProvider time, TimeSpan interval) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await RunOnceAsync(stoppingToken);
        using var timer = new PeriodicTimer(interval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
                await RunOnceAsync(stoppingToken);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private async Task RunOnceAsync(CancellationToken cancellationToken)
    {
        try
        {
            await lifecycle.SweepLeasesAsync(cancellationToken);
            await lifecycle.PublishUnpublishedAsync(cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            Log.Error(e, "Lease sweep failed; retrying next tick");
        }
    }
}
