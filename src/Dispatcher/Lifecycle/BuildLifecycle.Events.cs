using BuildFarm.Contracts.Builds;
using BuildFarm.Contracts.Workers;
using Serilog;

namespace BuildFarm.Dispatcher.Lifecycle;

/// <summary>Worker events. Stray messages (unknown build, stale attempt, finished build) are recorded, never applied.</summary>
internal sealed partial class BuildLifecycle
{
    public async Task OnStartedAsync(BuildStarted e, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var log = Log.ForContext("BuildId", e.BuildId).ForContext("Worker", e.WorkerName).ForContext("Attempt", e.Attempt);
        var cancel = await db.RunAsync<CancelBuild?>(async s =>
        {
            var b = await BuildTable.GetAsync(s, e.BuildId);
            if (b is null)
                return null;
            string? ignored = null;
            if (BuildState.IsFinished(b.State))
                ignored = $"claim after the build was {b.State}";
            else if (e.Attempt != b.Attempt)
                ignored = $"claim of stale attempt {e.Attempt} (current attempt is {b.Attempt})";
            else if (b.State == BuildState.Running && b.Worker != e.WorkerName)
                ignored = $"duplicate claim: attempt {b.Attempt} already runs on {b.Worker}";
            if (ignored is not null)
            {
                await AttemptTable.InsertAsync(s, e.BuildId, e.Attempt, e.WorkerName, e.StartedAt, now, "ignored", ignored, null);
                return new CancelBuild(e.BuildId, ignored, e.WorkerName, e.Attempt);
            }

            if (b.State == BuildState.Running)
            {
                // The same worker's claim again (redelivered before its ack): idempotent.
                await BuildTable.RenewLeaseAsync(s, b.Id, b.Attempt, e.WorkerName, now + settings.LeaseDuration);
                return null;
            }

            // First claim of the current attempt wins; from here the lease, not the broker, protects the build.
            await BuildTable.ClaimAsync(s, b.Id, e.WorkerName, e.StartedAt, now + settings.LeaseDuration);
            await AttemptTable.InsertAsync(s, b.Id, b.Attempt, e.WorkerName, e.StartedAt, null, "running", null, null);
            return null;
        }, cancellationToken);
        if (cancel is not null)
        {
            log.Warning("Ignored claim of {BuildId} attempt {Attempt} by {Worker}: {Reason}", e.BuildId, e.Attempt, e.WorkerName, cancel.Reason);
            // Not retried by redelivering BuildStarted: the loser's next heartbeat that lists the attempt repeats it.
            await TrySendCancelAsync(cancel, cancellationToken);
        }
        else
        {
            log.Information("Build {BuildId} attempt {Attempt} started on {Worker}", e.BuildId, e.Attempt, e.WorkerName);
        }
    }

    public async Task OnSucceededAsync(BuildSucceeded e, CancellationToken cancellationToken)
    {
        var log = Log.ForContext("BuildId", e.BuildId).ForContext("Worker", e.WorkerName).ForContext("Attempt", e.Attempt);
        string? rejected = null;
        if (importer is not null)
        {
            var current = await db.RunAsync(async s =>
                await BuildTable.GetAsync(s, e.BuildId) is { } b && StrayReason(b, e.Attempt, e.WorkerName) is null && await BuildInputTable.HasOriginAsync(s, b.Id),
                cancellationToken);
            if (current)
            {
                // Outside the transaction: the import may take long and must not hold the lifecycle's gate. If we die
                // after the import but before the commit below, the redelivered event imports again: the paths are
                // valid already and the archive's are the same, so nothing changes.
                var started = time.GetTimestamp();
                rejected = await importer.ImportAsync(e, cancellationToken);
                log.Information("Import of {BuildId} attempt {Attempt} outputs took {ImportSeconds:0.000} s: {Verdict}",
                    e.BuildId, e.Attempt, time.GetElapsedTime(started).TotalSeconds, rejected ?? "accepted");
            }
        }

        var now = time.GetUtcNow();
        var applied = await db.RunAsync(async s =>
        {
            var b = await BuildTable.GetAsync(s, e.BuildId);
            if (b is null)
                return false;
            var stray = StrayReason(b, e.Attempt, e.WorkerName);
            if (stray is not null)
            {
                await AttemptTable.InsertAsync(s, e.BuildId, e.Attempt, e.WorkerName, null, e.FinishedAt, "ignored", "success ignored: " + stray, null);
                return false;
            }

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
        }, cancellationToken);
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

    /// <summary>
    /// Registers/refreshes the worker and renews the leases of the builds it lists. A listed attempt the dispatcher no
    /// longer wants (see <see cref="Unwanted"/>) is cancelled on that worker again, after the commit: a CancelBuild
    /// that never reached the worker, or an attempt whose lease ran out while its worker was slow to beat, stops at
    /// the next heartbeat instead of holding a slot until it ends. A failed send is only logged; the next beat retries.
    /// </summary>
    public async Task OnStatusAsync(WorkerStatusReported e, CancellationToken cancellationToken)
    {
        var cancels = await db.RunAsync(async s =>
        {
            var now = time.GetUtcNow();
            await WorkerTable.UpsertAsync(s, e, now);
            var unwanted = new List<CancelBuild>();
            foreach (var r in e.RunningBuilds)
            {
                await BuildTable.RenewLeaseAsync(s, r.BuildId, r.Attempt, e.WorkerName, now + settings.LeaseDuration);
                if (Unwanted(await BuildTable.GetAsync(s, r.BuildId), r, e.WorkerName) is { } why)
                    unwanted.Add(new CancelBuild(r.BuildId, why, e.WorkerName, r.Attempt));
            }

            return unwanted;
        }, cancellationToken);
        foreach (var c in cancels)
        {
            Log.ForContext("BuildId", c.BuildId).ForContext("Worker", e.WorkerName).ForContext("Attempt", c.Attempt)
                .Warning("Worker {Worker} still runs {BuildId} attempt {Attempt}, which is no longer wanted ({Reason}): cancelling it there", e.WorkerName, c.BuildId, c.Attempt, c.Reason);
            await TrySendCancelAsync(c, cancellationToken);
        }
    }

    /// <summary>
    /// Why a worker should stop an attempt it reports running, or null. A build finished by this very attempt's own
    /// result is left alone: its heartbeat may simply have been sent before the result.
    /// </summary>
    private static string? Unwanted(BuildRecord? b, RunningBuild r, string worker)
    {
        if (b is null)
            return null;
        if (b.State == BuildState.Cancelled)
            return "the build was cancelled";
        if (r.Attempt != b.Attempt)
            return $"attempt {r.Attempt} is stale (current attempt is {b.Attempt})";
        if (b.Worker is not null && b.Worker != worker)
            return $"attempt {r.Attempt} runs on {b.Worker}";
        return null;
    }

    /// <summary>A worker said goodbye: anything still recorded as running there is lost now, not at lease expiry.</summary>
    public async Task OnWentOfflineAsync(WorkerWentOffline e, CancellationToken cancellationToken)
    {
        var republish = await db.RunAsync(async s =>
        {
            await WorkerTable.MarkOfflineAsync(s, e.WorkerName, e.Reason);
            var now = time.GetUtcNow();
            var list = new List<BuildRecord>();
            foreach (var b in await BuildTable.ListAsync(s, "state = 'running' AND worker = $w", ("$w", e.WorkerName)))
            {
                await AttemptTable.FinishAsync(s, b.Id, b.Attempt, e.WorkerName, now, "lost", $"worker {e.WorkerName} went offline: {e.Reason}", null);
                if (await RetryOrFailAsync(s, b, now) is { } next)
                    list.Add(next);
            }

            return list;
        }, cancellationToken);
        Log.ForContext("Worker", e.WorkerName).Information("Worker {Worker} went offline: {Reason}", e.WorkerName, e.Reason);
        foreach (var b in republish)
            await PublishAsync(b, cancellationToken);
    }

    /// <summary>Null when a result for (attempt, worker) is the current one; otherwise why it is ignored.</summary>
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
