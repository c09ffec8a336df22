using BuildFarm.Worker.Configuration;
using BuildFarm.Worker.Lifecycle;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Serilog;

namespace BuildFarm.Worker.Storage;

/// <summary>
/// Keeps a worker whose disk is full from taking builds it would only fail (<c>Store:PauseBelowFreeBytes</c>): below
/// the floor on the store's or the build directory's file system it pauses itself (<see cref="SelfPauseKind.DiskFull"/>,
/// seen in its heartbeat, /api/workers, the UI and <c>buildfarm status</c>), and claims again once twice the floor is
/// free. Checked every HeartbeatInterval and at once after a build failed (<see cref="CheckAsync"/>), before that
/// failure is reported: the dispatcher's retry then goes to another worker, not back to this one.
/// </summary>
internal sealed class DiskSpaceGuard(IOptions<WorkerOptions> options, WorkerStore workerStore, StoreCache storeCache, WorkerState state, TimeProvider time, ILogger logger)
    : BackgroundService
{
    private readonly ILogger _log = logger.ForContext<DiskSpaceGuard>();

    private long Floor => options.Value.Store.PauseBelowFreeBytes;

    /// <summary>Free bytes of the tightest file system the worker writes builds to, and its directory (replaceable by tests).</summary>
    internal Func<(long Free, string Where)> FreeBytes { get; set; } = () => Tightest(workerStore.Layout.PhysicalStoreDir, options.Value.BuildDir);

    /// <summary>
    /// Checks now; pauses or resumes the worker. Returns why the disk is short (the worker is paused), or null when it
    /// has room. A collection of unpinned store paths (<see cref="StoreCache"/>, when a cap or floor is set) runs first
    /// when space is short.
    /// </summary>
    public async Task<string?> CheckAsync(CancellationToken cancellationToken)
    {
        if (Floor <= 0)
            return null;
        var (free, where) = FreeBytes();
        if (free < Floor)
        {
            await storeCache.EnsureSpaceAsync(0, "disk short", cancellationToken);
            (free, where) = FreeBytes();
        }

        var paused = state.IsSelfPaused(SelfPauseKind.DiskFull);
        if (free < Floor || (paused && free < 2 * Floor))
        {
            var reason = $"disk full: {free} bytes free on {where}, under Store:PauseBelowFreeBytes {Floor}; claims again at {2 * Floor}";
            if (state.PauseItself(SelfPauseKind.DiskFull, reason))
                _log.Warning("Stopped claiming builds: {Reason}", reason);
            return reason;
        }

        if (state.ResumeItself(SelfPauseKind.DiskFull))
            _log.Information("Claiming builds again: {FreeBytes} bytes free on {Where}", free, where);
        return null;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (Floor <= 0)
            return;
        using var timer = new PeriodicTimer(options.Value.HeartbeatInterval, time);
        try
        {
            do
            {
                try
                {
                    await CheckAsync(stoppingToken);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException)
                {
                    _log.Warning("Could not check the free disk space: {Error}", e.Message);
                }
            }
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private static (long Free, string Where) Tightest(params string[] dirs)
    {
        (long Free, string Where) tightest = (long.MaxValue, "");
        foreach (var dir in dirs)
        {
            // A directory not made yet is measured on its nearest existing parent.
            var existing = dir;
            while (!Directory.Exists(existing) && Path.GetDirectoryName(existing) is { } parent)
                existing = parent;
            var free = new DriveInfo(existing).AvailableFreeSpace;
            if (free < tightest.Free)
                tightest = (free, dir);
        }

        return tightest;
    }
}
