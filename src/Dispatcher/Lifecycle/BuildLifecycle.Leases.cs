using System.Globalization;
using BuildFarm.Contracts.Builds;
using BuildFarm.Contracts.Workers;
using Serilog;

namespace BuildFarm.Dispatcher.Lifecycle;

/// <summary>
/// Who holds a build: the first claim of an attempt takes its lease, the worker's heartbeats renew it, and an attempt
/// is lost when its lease expires or its worker says goodbye. Losing one retries or fails the build (<see cref="RetryOrFailAsync"/>).
/// </summary>
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
            await BuildTable.ClaimAsync(s, b.Id, e.WorkerName, e.StartedAt, now + settings.LeaseDuration, e.Isolation);
            await AttemptTable.InsertAsync(s, b.Id, b.Attempt, e.WorkerName, e.StartedAt, null, "running", null, null, e.Isolation);
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
            log.Information("Build {BuildId} attempt {Attempt} started on {Worker} ({Isolation})", e.BuildId, e.Attempt, e.WorkerName,
                e.Isolation?.ToString().ToLowerInvariant() ?? "isolation unknown");
        }
    }

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

    /// <summary>
    /// Marks every running attempt whose lease expired as lost and republishes the next attempt (or fails the build
    /// once <see cref="LifecycleSettings.MaxAttempts"/> are used). Returns how many attempts were lost.
    /// </summary>
    public async Task<int> SweepLeasesAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var (lost, republish) = await db.RunAsync(async s =>
        {
            // A build whose success waits for its import is done on its worker, which no longer renews it.
            var expired = await BuildTable.ListAsync(s, $"state = 'running' AND lease_expires_at < $now AND {PendingResultTable.NotPending}", ("$now", BuildTable.Ms(now)));
            var next = new List<BuildRecord>();
            foreach (var b in expired)
            {
                var seen = await WorkerTable.LastSeenAsync(s, b.Worker!);
                var since = (seen ?? b.StartedAt ?? b.SubmittedAt).ToString("u", CultureInfo.InvariantCulture);
                var reason = $"worker {b.Worker} not heard from since {since}";
                await AttemptTable.FinishAsync(s, b.Id, b.Attempt, b.Worker!, now, "lost", reason, null);
                Log.ForContext("BuildId", b.Id).ForContext("Worker", b.Worker).ForContext("Attempt", b.Attempt)
                    .Warning("Lease of {BuildId} attempt {Attempt} on {Worker} expired: {Reason}", b.Id, b.Attempt, b.Worker, reason);
                if (await RetryOrFailAsync(s, b, now) is { } r)
                    next.Add(r);
            }

            return (expired.Count, next);
        }, cancellationToken);
        foreach (var b in republish)
            await PublishAsync(b, cancellationToken);
        return lost;
    }

    /// <summary>A worker said goodbye: anything still recorded as running there is lost now, not at lease expiry.</summary>
    public async Task OnWentOfflineAsync(WorkerWentOffline e, CancellationToken cancellationToken)
    {
        var republish = await db.RunAsync(async s =>
        {
            await WorkerTable.MarkOfflineAsync(s, e.WorkerName, e.Reason);
            var now = time.GetUtcNow();
            var list = new List<BuildRecord>();
            // `+worker`: the running builds (a few per worker) through the state's index, not every build the worker ever ran.
            foreach (var b in await BuildTable.ListAsync(s, $"state = 'running' AND +worker = $w AND {PendingResultTable.NotPending}", ("$w", e.WorkerName)))
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
}
