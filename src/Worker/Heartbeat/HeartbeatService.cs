using System.Globalization;
using System.Reflection;
using BuildFarm.Contracts.Workers;
using BuildFarm.Worker.Configuration;
using BuildFarm.Worker.Events;
using BuildFarm.Worker.Execution;
using BuildFarm.Worker.Lifecycle;
using BuildFarm.Worker.Storage;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Serilog;

namespace BuildFarm.Worker.Heartbeat;

/// <summary>
/// Publishes WorkerStatusReported at start (the worker is online), every HeartbeatInterval and at once when the
/// worker's state changes. Each one lists the running builds, which renews their leases at the dispatcher; a missed
/// beat is harmless, three are a lost lease.
/// </summary>
internal sealed class HeartbeatService(
    IOptions<WorkerOptions> options,
    EventPublisher events,
    WorkerState state,
    RunningBuilds running,
    OfflineAnnouncer offline,
    IsolationChoice isolation,
    StoreCache storeCache,
    TimeProvider time,
    ILogger logger) : BackgroundService
{
    internal static readonly string Version = typeof(HeartbeatService).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0";
    private static readonly TimeSpan MinConfirmBudget = TimeSpan.FromSeconds(5);
    private readonly ILogger _log = logger.ForContext<HeartbeatService>();

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var o = options.Value;
        using var timer = new PeriodicTimer(o.HeartbeatInterval, time);
        // A change of state (drain, pause, resume, abort) is beaten at once rather than at the next tick, so the
        // dispatcher and the UI see "draining" within a round trip. The pending tick is kept across nudges:
        // PeriodicTimer allows one outstanding wait only.
        using var nudge = new SemaphoreSlim(0);
        void Nudge() => nudge.Release();
        state.Changed += Nudge;
        try
        {
            Task<bool>? tick = null;
            Task? nudged = null;
            while (true)
            {
                await BeatAsync(o, stoppingToken);
                tick ??= timer.WaitForNextTickAsync(stoppingToken).AsTask();
                nudged ??= nudge.WaitAsync(stoppingToken);
                var first = await Task.WhenAny(tick, nudged);
                if (stoppingToken.IsCancellationRequested)
                    return;
                if (first == tick)
                {
                    if (!await tick)
                        return;
                    tick = null;
                }
                else
                {
                    nudged = null;
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        finally
        {
            state.Changed -= Nudge;
        }
    }

    private async Task BeatAsync(WorkerOptions o, CancellationToken stoppingToken)
    {
        // Beats are sequential, so a slow confirm delays the next beat instead of piling them up; the budget is at
        // least MinConfirmBudget so a loaded broker does not turn every short-interval beat into a cancel.
        var budgetTime = o.HeartbeatInterval > MinConfirmBudget ? o.HeartbeatInterval : MinConfirmBudget;
        try
        {
            using var budget = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
            budget.CancelAfter(budgetTime);
            await offline.BeatWhileOnlineAsync(ct => events.PublishAsync(Status(o), ct), budget.Token);
        }
        catch (OperationCanceledException) when (!stoppingToken.IsCancellationRequested)
        {
            _log.Warning("Heartbeat not confirmed within {Budget}", budgetTime);
        }
    }

    private WorkerStatusReported Status(WorkerOptions o) => new(
        o.Name,
        isolation.Capabilities(o),
        running.Snapshot(),
        Load(),
        FreeDisk(o.BuildDir),
        Version,
        state.Draining,
        state.ReportedPaused,
        state.ReportedNote,
        time.GetUtcNow(),
        isolation.Current,
        storeCache.Usage());

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
