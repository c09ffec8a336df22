using System.Globalization;
using Serilog;

namespace BuildFarm.Dispatcher.Lifecycle;

/// <summary>Leases: a running attempt lives while its worker's heartbeats list it; an expired lease means lost.</summary>
internal sealed partial class BuildLifecycle
{
    /// <summary>
    /// Marks every running attempt whose lease expired as lost and republishes the next attempt (or fails the build
    /// once <see cref="LifecycleSettings.MaxAttempts"/> are used). Returns how many attempts were lost.
    /// </summary>
    public async Task<int> SweepLeasesAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var (lost, republish) = await db.RunAsync(async s =>
        {
            var expired = await BuildTable.ListAsync(s, "state = 'running' AND lease_expires_at < $now", ("$now", BuildTable.Ms(now)));
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

    /// <summary>
    /// After an infrastructure loss: requeue as attempt+1 (returned, to publish after commit) or, at the limit, fail
    /// with a reason that lists every attempt.
    /// </summary>
    private async Task<BuildRecord?> RetryOrFailAsync(DbSession s, BuildRecord b, DateTimeOffset now)
    {
        if (b.Attempt < settings.MaxAttempts)
        {
            await BuildTable.RequeueAsync(s, b.Id, b.Attempt + 1);
            return b with { Attempt = b.Attempt + 1, State = BuildState.Queued, Worker = null, Published = false };
        }

        var attempts = (await AttemptTable.ListAsync(s, b.Id)).Where(a => a.Outcome != "ignored").ToArray();
        var listed = string.Join("; ", attempts.Select(a => $"attempt {a.Attempt} on {a.Worker}: {a.Outcome}{(a.Reason is null ? "" : " (" + a.Reason + ")")}"));
        var reason = $"gave up after {b.Attempt} attempts (limit {settings.MaxAttempts}): {listed}";
        await BuildTable.FinishAsync(s, b.Id, BuildState.Failed, "Infrastructure", reason, null, null, now);
        Log.ForContext("BuildId", b.Id).Error("Build {BuildId} failed: {Reason}", b.Id, reason);
        return null;
    }
}
