using Microsoft.Extensions.Hosting;
using Serilog;

namespace BuildFarm.Dispatcher.Graphs;

/// <summary>At start-up and then every <paramref name="interval"/>: advances every running graph.</summary>
internal sealed class GraphSweeper(GraphScheduler scheduler, TimeProvider time, TimeSpan interval) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(interval, time);
        try
        {
            do
            {
                try
                {
                    await scheduler.TickAsync(stoppingToken);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    Log.Error(e, "Graph tick failed; retrying next tick");
                }
            }
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }
}
