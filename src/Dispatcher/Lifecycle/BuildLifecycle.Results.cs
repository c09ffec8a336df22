using BuildFarm.Contracts.Builds;
using BuildFarm.Contracts.Workers;
using Serilog;

namespace BuildFarm.Dispatcher.Lifecycle;

/// <summary>What an attempt reports: its log, then its success or failure. Stray results (unknown build, stale attempt, finished build) are recorded, never applied.</summary>
internal sealed partial class BuildLifecycle
{
    /// <summary>
    /// Takes a success whose outputs must be imported into the origin store as a pending result (true): the import
    /// then runs in one of the import lanes (<see cref="Events.ResultImports"/>), off the event queue, and ends in
    /// <see cref="OnSucceededAsync"/> with <c>pending</c> set. False when no import is needed (no origin, unknown
    /// build, stray attempt, no input from the origin): the caller handles it inline. Delivery: the event is acked
    /// once this commits; from then on the row carries it, and a restart resumes it.
    /// </summary>
    public async Task<bool> DeferSucceededAsync(BuildSucceeded e, CancellationToken cancellationToken)
    {
        if (importer is null)
            return false;
        return await db.RunAsync(async s =>
        {
            if (await CurrentAttemptAsync(s, e) is not ({ }, true))
                return false;
            await PendingResultTable.InsertAsync(s, e, time.GetUtcNow());
            return true;
        }, cancellationToken);
    }

    /// <summary>Every success still waiting for its import (after a restart).</summary>
    public Task<IReadOnlyList<BuildSucceeded>> PendingResultsAsync(CancellationToken cancellationToken) =>
        db.RunAsync(PendingResultTable.ListAsync, cancellationToken);

    /// <param name="e">The worker's success.</param>
    /// <param name="cancellationToken">Cancels the import and the commit (the event or pending row then stays).</param>
    /// <param name="pending">Set by the import lanes: the pending row is deleted in the verdict's transaction.</param>
    /// <param name="record">
    /// Also written in the verdict's transaction, whatever the verdict (the monitoring's phase timings,
    /// <see cref="Metrics.EventObserver"/>): one commit per result instead of two.
    /// </param>
    public async Task OnSucceededAsync(BuildSucceeded e, CancellationToken cancellationToken, bool pending = false, Func<DbSession, Task>? record = null)
    {
        var log = Log.ForContext("BuildId", e.BuildId).ForContext("Worker", e.WorkerName).ForContext("Attempt", e.Attempt);
        string? imported = null;
        var importedRan = false;
        if (importer is not null)
        {
            var (current, hasOrigin) = await db.RunAsync(s => CurrentAttemptAsync(s, e), cancellationToken);
            if (current is not null && hasOrigin)
            {
                // Outside the transaction: the import may take long and must not hold the lifecycle's gate. If we die
                // after the import but before the commit below, the redelivered event imports again: the paths are
                // valid already and the archive's are the same, so nothing changes.
                var started = time.GetTimestamp();
                imported = await importer.ImportAsync(e, current.DrvPath, current.DrvText, cancellationToken);
                importedRan = true;
                log.Information("Import of {BuildId} attempt {Attempt} outputs took {ImportSeconds:0.000} s: {Verdict}",
                    e.BuildId, e.Attempt, time.GetElapsedTime(started).TotalSeconds, imported ?? "accepted");
            }
        }

        var now = time.GetUtcNow();
        string? rejected = null;
        var applied = await db.RunAsync(async s =>
        {
            var verdict = await VerdictAsync(s);
            if (record is not null)
                await record(s);
            return verdict;
        }, cancellationToken);

        async Task<bool> VerdictAsync(DbSession s)
        {
            if (pending)
                await PendingResultTable.DeleteAsync(s, e);
            var b = await BuildTable.GetAsync(s, e.BuildId);
            if (b is null)
                return false;
            var stray = StrayReason(b, e.Attempt, e.WorkerName);
            if (stray is not null)
            {
                await AttemptTable.InsertAsync(s, e.BuildId, e.Attempt, e.WorkerName, null, e.FinishedAt, "ignored", "success ignored: " + stray, null);
                return false;
            }

            // No archive imported (no origin): the outputs' own signatures are still checked against the trusted worker
            // keys, so a result is never recorded on the event's word alone. Checked here, in the verdict's transaction
            // (CPU only), rather than in a read of its own before it.
            rejected = importedRan ? imported : workerKeys is null ? null : OutputSignatures.Problem(e, b.StoreDir, workerKeys.Current());
            if (rejected is not null)
            {
                // A rejected result is final: another worker would not make a forged or corrupt upload trustworthy.
                await CloseAttemptAsync(s, b, e.WorkerName, e.FinishedAt, nameof(BuildFailureKind.Rejected), rejected, null);
                await BuildTable.FinishAsync(s, b.Id, BuildState.Failed, nameof(BuildFailureKind.Rejected), $"Rejected on {e.WorkerName}: {rejected}", null, e.WorkerName, now);
                await WorkerTable.CountAsync(s, e.WorkerName, succeeded: false);
                return true;
            }

            await CloseAttemptAsync(s, b, e.WorkerName, e.FinishedAt, "succeeded", null, null);
            await OutputTable.InsertAsync(s, b.Id, e.Outputs);
            await BuildTable.FinishAsync(s, b.Id, BuildState.Succeeded, null, null, 0, e.WorkerName, now);
            await WorkerTable.CountAsync(s, e.WorkerName, succeeded: true);
            return true;
        }

        // Checkpoint: the verdict is committed; the quarantine file is no longer needed whatever it was.
        importer?.Discard(e.BuildId, e.Attempt);
        if (!applied)
            log.Information("Ignored success of {BuildId} attempt {Attempt} from {Worker}", e.BuildId, e.Attempt, e.WorkerName);
        else if (rejected is not null)
            log.Warning("Build {BuildId} attempt {Attempt} from {Worker} failed: {Reason}", e.BuildId, e.Attempt, e.WorkerName, rejected);
        else
            log.Information("Build {BuildId} attempt {Attempt} succeeded on {Worker}", e.BuildId, e.Attempt, e.WorkerName);
    }

    public async Task OnFailedAsync(BuildFailed e, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var log = Log.ForContext("BuildId", e.BuildId).ForContext("Worker", e.WorkerName).ForContext("Attempt", e.Attempt);
        var republish = await db.RunAsync(async s =>
        {
            var b = await BuildTable.GetAsync(s, e.BuildId);
            if (b is null)
                return null;
            var stray = StrayReason(b, e.Attempt, e.WorkerName);
            if (stray is not null)
            {
                await AttemptTable.InsertAsync(s, e.BuildId, e.Attempt, e.WorkerName, null, e.FinishedAt, "ignored", $"{e.Kind} ignored: {stray}: {e.Reason}", e.ExitCode);
                return null;
            }

            await CloseAttemptAsync(s, b, e.WorkerName, e.FinishedAt, e.Kind.ToString(), e.Reason, e.ExitCode);
            await WorkerTable.CountAsync(s, e.WorkerName, succeeded: false);
            if (e.Kind == BuildFailureKind.Infrastructure)
                return await RetryOrFailAsync(s, b, now);
            await BuildTable.FinishAsync(s, b.Id, BuildState.Failed, e.Kind.ToString(), $"{e.Kind} on {e.WorkerName}: {e.Reason}", e.ExitCode, e.WorkerName, now);
            return null;
        }, cancellationToken);
        // An upload that made it to quarantine before the attempt failed is never imported.
        importer?.Discard(e.BuildId, e.Attempt);
        log.Information("Build {BuildId} attempt {Attempt} failed on {Worker} ({Kind}): {Reason}", e.BuildId, e.Attempt, e.WorkerName, e.Kind, e.Reason);
        if (republish is not null)
            await PublishAsync(republish, cancellationToken);
    }

    public Task OnLogAsync(BuildLogEmitted e, CancellationToken cancellationToken) =>
        db.RunAsync(s => LogTable.AppendAsync(s, e.BuildId, e.Attempt, e.WorkerName, e.Sequence, e.Text, settings.MaxLogBytesPerBuild), cancellationToken);

    /// <summary>Null when a result for (attempt, worker) is the current one; otherwise why it is ignored.</summary>
    /// <summary>The build when <paramref name="e"/> is its current attempt (else null), and whether it has an origin to import into.</summary>
    private static async Task<(BuildRecord? Current, bool HasOrigin)> CurrentAttemptAsync(DbSession s, BuildSucceeded e) =>
        await BuildTable.GetAsync(s, e.BuildId) is { } b && StrayReason(b, e.Attempt, e.WorkerName) is null ? (b, await BuildInputTable.HasOriginAsync(s, b.Id)) : (null, false);

    private static string? StrayReason(BuildRecord b, int attempt, string worker)
    {
        if (BuildState.IsFinished(b.State))
            return $"the build was already {b.State}";
        if (attempt != b.Attempt)
            return $"stale attempt {attempt} (current attempt is {b.Attempt})";
        if (b.Worker is not null && b.Worker != worker)
            return $"attempt {attempt} is claimed by {b.Worker}";
        return null;
    }

    /// <summary>Closes the claimant's attempt row; a result that overtook its own BuildStarted gets a row of its own.</summary>
    private static async Task CloseAttemptAsync(DbSession s, BuildRecord b, string worker, DateTimeOffset finished, string outcome, string? reason, int? exitCode)
    {
        if (b.Worker is null)
            await AttemptTable.InsertAsync(s, b.Id, b.Attempt, worker, null, finished, outcome, reason, exitCode);
        else
            await AttemptTable.FinishAsync(s, b.Id, b.Attempt, worker, finished, outcome, reason, exitCode);
    }
}
