using Microsoft.Extensions.Hosting;
using Serilog;

namespace BuildFarm.Dispatcher.Lifecycle;

/// <summary>What a retention pass did.</summary>
internal sealed record RetentionResult(int Builds, int LogRows, int Graphs);

/// <summary>
/// Deletes finished builds (with their attempts, logs, outputs and inputs) and finished graphs past
/// <c>Dispatcher:Retention</c>'s age or count, one batch per transaction so the lifecycle's gate is never held for
/// more than a batch, then hands freed pages back to the file system (incremental vacuum). Queued and running builds,
/// and builds a running graph points at, are never touched. A crash mid-pass loses nothing that should stay: each
/// batch commits whole, and the next pass picks up where this one stopped.
/// </summary>
internal sealed class RetentionSweeper(LifecycleDatabase db, TimeProvider time, RetentionSettings settings) : BackgroundService
{
    /// <summary>Free pages handed back per batch (4 KiB each: 4 MiB).</summary>
    private const int VacuumPages = 1024;

    public async Task<RetentionResult> RunOnceAsync(CancellationToken cancellationToken)
    {
        var before = settings.MaxAge > TimeSpan.Zero ? (time.GetUtcNow() - settings.MaxAge).ToUnixTimeMilliseconds() : long.MinValue;
        int builds = 0, logs = 0, graphs = 0;
        while (true)
        {
            var (n, l) = await db.RunAsync(async s =>
            {
                var ids = await RetentionTable.ExpiredBuildsAsync(s, before, settings.MaxFinishedBuilds, settings.BatchSize);
                return (ids.Count, await RetentionTable.DeleteBuildsAsync(s, ids));
            }, cancellationToken);
            builds += n;
            logs += l;
            if (n > 0)
                await db.RunAsync(s => RetentionTable.IncrementalVacuumAsync(s, VacuumPages), cancellationToken);
            if (n < settings.BatchSize)
                break;
            // Let the lifecycle's waiting transactions in between batches.
            await Task.Yield();
        }

        while (settings.MaxAge > TimeSpan.Zero)
        {
            var n = await db.RunAsync(async s =>
            {
                var ids = await RetentionTable.ExpiredGraphsAsync(s, before, settings.BatchSize);
                await RetentionTable.DeleteGraphsAsync(s, ids);
                return ids.Count;
            }, cancellationToken);
            graphs += n;
            if (n < settings.BatchSize)
                break;
        }

        if (builds + graphs > 0)
            Log.Information("Retention: deleted {BuildCount} finished builds ({LogRows} log rows) and {GraphCount} finished graphs", builds, logs, graphs);
        return new RetentionResult(builds, logs, graphs);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (await db.RunAsync(RetentionTable.AutoVacuumAsync, stoppingToken) != 2)
            Log.Warning("The dispatcher database {Database} was made without auto_vacuum = INCREMENTAL: retention frees pages for reuse but the file does not shrink (docs/operations.md: once, with the dispatcher stopped, `sqlite3 FILE 'PRAGMA auto_vacuum = INCREMENTAL; VACUUM;'`)", db.File);
        try
        {
            // The first pass a minute after start-up, out of the way of the start-up sweep and republishing.
            await Task.Delay(TimeSpan.FromMinutes(1), time, stoppingToken);
            using var timer = new PeriodicTimer(settings.SweepInterval, time);
            do
            {
                try
                {
                    await RunOnceAsync(stoppingToken);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    Log.Error(e, "Retention sweep failed; retrying next time");
                }
            }
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }
}

/// <summary>The retention limits the sweeper applies (from <c>Dispatcher:Retention</c>).</summary>
internal sealed record RetentionSettings(TimeSpan MaxAge, long MaxFinishedBuilds, TimeSpan SweepInterval, int BatchSize);
