using BuildFarm.Dispatcher.Lifecycle;
using Microsoft.Extensions.Hosting;
using Serilog;

namespace BuildFarm.Dispatcher.Graphs;

/// <summary>
/// Advances every running graph: at start-up, every <paramref name="interval"/>, and soon after a build ends while a
/// graph runs (its dependents may be ready now; without this a graph of depth D would wait up to D intervals).
/// </summary>
/// <remarks>
/// A tick reads every node of every running graph, so ticks that follow build ends keep a gap of at least
/// <see cref="MinGap"/> and four times the last tick's duration: a burst of ends is one tick, and ticking takes at
/// most about a fifth of the time however large the graphs are. Missing a wake-up loses nothing: the periodic tick
/// still comes.
/// </remarks>
internal sealed class GraphSweeper(GraphScheduler scheduler, BuildSignals signals, TimeProvider time, TimeSpan interval) : BackgroundService
{
    internal static readonly TimeSpan MinGap = TimeSpan.FromMilliseconds(10);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(interval, time);
        Task<bool>? periodic = null;
        try
        {
            while (true)
            {
                // Taken before the tick reads: a build that ends while it runs wakes the next one.
                var ended = signals.NextEnd();
                var started = time.GetTimestamp();
                try
                {
                    await scheduler.TickAsync(stoppingToken);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    Log.Error(e, "Graph tick failed; retrying next tick");
                }

                var gap = Max(MinGap, time.GetElapsedTime(started) * 4);
                periodic ??= timer.WaitForNextTickAsync(stoppingToken).AsTask();
                while (true)
                {
                    if (await Task.WhenAny(periodic, ended) == periodic)
                    {
                        if (!await periodic)
                            return;
                        periodic = null;
                        break;
                    }

                    if (scheduler.HasRunningGraphs)
                    {
                        await Task.Delay(gap, time, stoppingToken);
                        break;
                    }

                    // A build of the hook's or of a submission: no graph to advance.
                    ended = signals.NextEnd();
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;
}
