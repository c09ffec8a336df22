using BuildFarm.Dispatcher.Lifecycle;
using Microsoft.Extensions.Hosting;
using Serilog;

namespace BuildFarm.Dispatcher.Graphs;

/// <summary>
/// Advances every running graph: at start-up, every <paramref name="interval"/>, and soon after a build ends while a
/// graph runs (its dependents may be ready now; without this a graph of depth D would wait up to D intervals).
/// </summary>
/// <remarks>
/// A tick reads every node of every running graph, so ticks that follow build ends keep a gap of four times the last
/// tick's duration, between <see cref="MinGap"/> and <see cref="MaxGap"/>: a burst of ends is one tick, and ticking
/// takes at most about a fifth of the time unless ticks are slower than <see cref="MaxGap"/> / 4 (a tick's submissions
/// read derivations from the origin store: a layer of a graph on a loaded machine), where a build's dependents still
/// start within <see cref="MaxGap"/> of it. Missing a wake-up loses nothing: the periodic tick still comes.
/// </remarks>
internal sealed class GraphSweeper(GraphScheduler scheduler, BuildSignals signals, TimeProvider time, TimeSpan interval) : BackgroundService
{
    internal static readonly TimeSpan MinGap = TimeSpan.FromMilliseconds(10);
    internal static readonly TimeSpan MaxGap = TimeSpan.FromMilliseconds(100);

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

                var gap = Clamp(time.GetElapsedTime(started) * 4, MinGap, MaxGap);
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

    private static TimeSpan Clamp(TimeSpan value, TimeSpan min, TimeSpan max) => value < min ? min : value > max ? max : value;
}
