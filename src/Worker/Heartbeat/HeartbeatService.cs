using System.Globalization;
using System.Reflection;
using BuildFarm.Contracts.Workers;
using BuildFarm.Worker.Configuration;
using BuildFarm.Worker.Events;
using BuildFarm.Worker.Lifecycle;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Serilog;

namespace BuildFarm.Worker.Heartbeat;

/// <summary>
/// Publishes WorkerStatusReported at start (the worker is online) and every HeartbeatInterval. Each one lists the
/// running builds, which renews their leases at the dispatcher; a missed beat is harmless, three are a lost lease.
/// </summary>
internal sealed class HeartbeatService(
    IOptions<WorkerOptions> options,
    EventPublisher events,
    WorkerState state,
    RunningBuilds running,
    TimeProvider time,
    ILogger logger) : BackgroundService
{
    private static readonly string Version = typeof(HeartbeatService).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0";
    private readonly ILogger _log = logger.ForContext<HeartbeatService>();

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var o = options.Value;
        using var timer = new PeriodicTimer(o.HeartbeatInterval, time);
        while (true)
        {
            try
            {
                using var budget = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
                budget.CancelAfter(o.HeartbeatInterval);
                await events.PublishAsync(Status(o), budget.Token);
            }
            catch (OperationCanceledException) when (!stoppingToken.IsCancellationRequested)
            {
                _log.Warning("Heartbeat not confirmed within {Interval}", o.HeartbeatInterval);
            }

            try
            {
                if (!await timer.WaitForNextTickAsync(stoppingToken))
                    return;
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private WorkerStatusReported Status(WorkerOptions o) => new(
        o.Name,
        WorkerOptionsValidator.Capabilities(o),
        running.Snapshot(),
        Load(),
        FreeDisk(o.BuildDir),
        Version,
        state.Draining,
        state.Paused,
        state.Note,
        time.GetUtcNow());

    private static double Load()
    {
        try
        {
            var first = File.ReadAllText("/proc/loadavg").Split(' ')[0];
            return double.Parse(first, CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is IOException or FormatException)
        {
            return -1;
        }
    }

    private static long FreeDisk(string dir)
    {
        try
        {
            Directory.CreateDirectory(dir);
            return new DriveInfo(dir).AvailableFreeSpace;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            return -1;
        }
    }
}
