using BuildFarm.Dispatcher.Lifecycle;
using BuildFarm.Store.Quarantine;
using Microsoft.Extensions.Hosting;
using Serilog;

namespace BuildFarm.Dispatcher.Origin;

/// <summary>
/// Removes quarantine files nobody will import: a <c>.part</c> not written for <paramref name="grace"/> (its upload
/// died; a retried upload starts a new one), and a complete archive older than the grace period whose attempt is not
/// the one its build is running — the build finished (imported or rejected, the importer deletes then; this catches a
/// dispatcher that died in between), was retried after a lost lease (a late upload of the old attempt), or is unknown.
/// </summary>
/// <remarks>
/// The archive of the attempt a build is running is kept whatever its age: its BuildSucceeded may still be queued.
/// Deleting is idempotent, so dying mid-sweep only leaves work for the next sweep.
/// </remarks>
internal sealed class QuarantineSweeper(OriginStore origin, LifecycleDatabase database, TimeProvider time, TimeSpan interval, TimeSpan grace) : BackgroundService
{
    private readonly Serilog.ILogger _log = Log.ForContext<QuarantineSweeper>();

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(interval, time);
        try
        {
            do
            {
                try
                {
                    await SweepOnceAsync(stoppingToken);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    _log.Error(e, "Quarantine sweep failed; retrying in {Interval}", interval);
                }
            }
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>One pass; returns the files deleted.</summary>
    public async Task<int> SweepOnceAsync(CancellationToken cancellationToken)
    {
        var quarantine = new OutputQuarantine(origin.Layout);
        var before = time.GetUtcNow().UtcDateTime - grace;
        var deleted = 0;
        foreach (var entry in quarantine.Entries())
        {
            if (entry.LastWriteUtc > before)
                continue;
            var why = entry.IsPart ? "an upload that stopped" : await OrphanReasonAsync(entry, cancellationToken);
            if (why is null)
                continue;
            try
            {
                File.Delete(entry.File);
                deleted++;
                _log.Information("Deleted quarantine file {File} of {BuildId} attempt {Attempt}: {Why}", entry.File, entry.BuildId, entry.Attempt, why);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                _log.Warning(e, "Could not delete quarantine file {File}", entry.File);
            }
        }

        return deleted;
    }

    private async Task<string?> OrphanReasonAsync(QuarantineEntry entry, CancellationToken cancellationToken)
    {
        var build = await database.RunAsync(s => BuildTable.GetAsync(s, entry.BuildId), cancellationToken);
        if (build is null)
            return "no such build";
        if (build.State != BuildState.Running)
            return $"the build is {build.State}";
        return build.Attempt == entry.Attempt ? null : $"the build is running attempt {build.Attempt}";
    }
}
