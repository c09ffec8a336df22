using System.Collections.Concurrent;
using BuildFarm.Contracts.Builds;
using BuildFarm.Contracts.Workers;
using BuildFarm.Dispatcher.Registry;
using BuildFarm.Messaging.Routing;
using Serilog;

namespace BuildFarm.Dispatcher.Lifecycle;

/// <summary>
/// The build state machine. Each event is one SQLite transaction; messages it implies (publish an attempt, cancel
/// a stray claim) are sent only after that transaction committed, so the database never claims more than happened.
/// A publish that fails leaves the row unpublished; the sweep republishes it (same attempt, duplicates resolved by
/// the first-claim-wins rule in <see cref="OnStartedAsync"/>).
/// </summary>
internal sealed partial class BuildLifecycle(
    LifecycleDatabase db,
    IBuildRequestPublisher publisher,
    IControlPublisher control,
    TimeProvider time,
    LifecycleSettings settings,
    IOutputImporter? importer = null,
    Store.Signing.TrustedKeysFile? workerKeys = null)
{
    private readonly ConcurrentDictionary<(Guid, int), byte> _publishing = new();

    public LifecycleSettings Settings => settings;

    public LifecycleDatabase Database => db;

    public async Task<SubmitResult> SubmitAsync(SubmitRequest request, CancellationToken cancellationToken)
    {
        if (TrustedRouting.ReservedFeatureProblem(request.Features) is { } reserved)
        {
            Log.Warning("Refused {DrvPath}: {Reason}", request.DrvPath, reserved);
            return new SubmitResult(null, $"{request.DrvPath}: requiredSystemFeatures: {reserved}");
        }

        // The record keeps the derivation's own features; the class (what capacity is checked against and the
        // request is routed by) adds the trusted mark.
        var declared = new BuildClass(request.System, request.Features);
        var buildClass = TrustedRouting.ClassOf(request.System, request.Features, request.Trusted);
        var now = time.GetUtcNow();
        var record = new BuildRecord(
            request.BuildId ?? Guid.NewGuid(), request.DrvPath, request.DrvText, request.StoreDir, declared.System, declared.Features,
            request.WantedOutputs, BuildState.Queued, 1, false, null, null, request.Priority, request.Timeout,
            request.MaxSilentTime, request.WaitForCapacity, null, null, null, now, null, null, null, false, request.Trusted);
        var waiter = request.Waiter ?? WaiterTable.SubmitPrefix + Guid.NewGuid().ToString("N");
        if (request.ValidOutputs is { } valid)
            return await RecordReusedAsync(record, valid, waiter, cancellationToken);
        // Held from before the row exists: the sweep cannot publish it meanwhile, so the route read in the insert's
        // transaction below is still the truth when the request goes out (no read of its own, as PublishAsync has).
        var guarded = _publishing.TryAdd((record.Id, record.Attempt), 0);
        ContractVersionRoute? route = null;
        var sending = false;
        (string? Refusal, Guid? Joined) decided;
        try
        {
            decided = await db.RunAsync(DecideAsync, cancellationToken);
            sending = route is not null;
        }
        finally
        {
            if (guarded && !sending)
                _publishing.TryRemove((record.Id, record.Attempt), out _);
        }

        async Task<(string?, Guid?)> DecideAsync(DbSession s)
        {
            // Work done once: the same derivation in flight (queued or running) is joined, not built again. One
            // transaction with the insert below, on the one database connection: two requests cannot both miss it.
            if (await BuildTable.FindOpenAsync(s, request.DrvPath, request.StoreDir, request.Trusted, request.WantedOutputs) is { } open)
            {
                await WaiterTable.AddAsync(s, open.Id, waiter, joined: true);
                return (null, open.Id);
            }

            // The full worker list (for the refusal's words) only when no worker ever seen could run the class.
            var capabilities = await WorkerTable.CapabilitiesAsync(s);
            var refused = capabilities.Any(c => CapabilityMatcher.CanRun(c, buildClass))
                ? null
                : CapacityCheck.Refusal(await WorkerTable.ListAsync(s), buildClass);
            if (refused is not null && !request.WaitForCapacity)
                return (refused, null);
            await BuildTable.InsertAsync(s, record);
            await WaiterTable.AddAsync(s, record.Id, waiter, joined: false);
            if (request.Origin is not null)
                await BuildInputTable.InsertAsync(s, record.Id, request.Origin, request.InputClosure ?? []);
            if (guarded)
                route = await RouteAsync(s, capabilities, buildClass);
            return (null, null);
        }

        var (refusal, joined) = decided;
        if (refusal is not null)
        {
            Log.Warning("Refused {DrvPath}: {Reason}", request.DrvPath, refusal);
            return new SubmitResult(null, refusal);
        }

        if (joined is { } joinedId)
        {
            // Checkpoint: the waiter row is durable; the build in flight was published by whoever created it.
            Log.ForContext("BuildId", joinedId).Information("{Waiter} joined build {BuildId} of {DrvPath} in flight instead of building it again",
                waiter, joinedId, request.DrvPath);
            return new SubmitResult(joinedId, null, Joined: true, Waiter: waiter);
        }

        Log.ForContext("BuildId", record.Id).Information("Build {BuildId} of {DrvPath} queued for class {Class}{Trusted}", record.Id, record.DrvPath, buildClass.Key,
            record.Trusted ? " (trusted: may run unsandboxed)" : "");
        // Checkpoint: the row is durable (queued, unpublished). If we die before the confirm below, the start-up
        // sweep publishes it; if the broker is down, PublishAsync retries, then the periodic sweep does.
        if (route is { } chosen)
            await SendAsync(record, request.Origin, request.InputClosure ?? [], chosen, cancellationToken);
        else
            await PublishAsync(record, cancellationToken);
        return new SubmitResult(record.Id, null, Waiter: waiter);
    }

    /// <summary>Records a build whose outputs are already valid in the origin store as succeeded: nothing runs.</summary>
    private async Task<SubmitResult> RecordReusedAsync(BuildRecord record, IReadOnlyList<BuiltOutput> outputs, string waiter, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        await db.RunAsync(async s =>
        {
            await BuildTable.InsertAsync(s, record);
            await WaiterTable.AddAsync(s, record.Id, waiter, joined: false);
            await OutputTable.InsertAsync(s, record.Id, outputs);
            await BuildTable.FinishAsync(s, record.Id, BuildState.Succeeded, null, null, null, null, now);
            await BuildTable.MarkReusedAsync(s, record.Id);
        }, cancellationToken);
        Log.ForContext("BuildId", record.Id).Information("Build {BuildId} of {DrvPath}: outputs already valid in the origin store, nothing to build",
            record.Id, record.DrvPath);
        return new SubmitResult(record.Id, null, Waiter: waiter);
    }

    /// <summary>
    /// One waiter stops waiting (<paramref name="waiter"/>, or with null one direct submission): the build is
    /// cancelled only when no one waits any more (or when no direct submission waits and <paramref name="waiter"/>
    /// is null: an operator's cancel). True when the build was cancelled.
    /// </summary>
    public async Task<bool> LeaveAsync(Guid id, string? waiter, string reason, CancellationToken cancellationToken)
    {
        var remaining = await db.RunAsync(async s =>
        {
            var left = await WaiterTable.LeaveAsync(s, id, waiter, time.GetUtcNow());
            return left || waiter is not null ? await WaiterTable.WaitingAsync(s, id) : 0;
        }, cancellationToken);
        if (remaining > 0)
        {
            Log.ForContext("BuildId", id).Information("{Waiter} stopped waiting for build {BuildId} ({Reason}); {Remaining} still wait, so it goes on",
                waiter ?? "a submission", id, reason, remaining);
            return false;
        }

        return await CancelAsync(id, reason, cancellationToken);
    }

    /// <summary>Cancels the build whoever waits for it (the last waiter left, or an operator asked).</summary>
    public async Task<bool> CancelAsync(Guid id, string reason, CancellationToken cancellationToken)
    {
        var cancel = await db.RunAsync(async s =>
        {
            var b = await BuildTable.GetAsync(s, id);
            if (b is null || BuildState.IsFinished(b.State))
                return null;
            var now = time.GetUtcNow();
            if (b.Worker is not null)
                await AttemptTable.FinishAsync(s, id, b.Attempt, b.Worker, now, "cancelled", reason, null);
            await BuildTable.FinishAsync(s, id, BuildState.Cancelled, null, reason, null, null, now);
            return new CancelBuild(id, reason);
        }, cancellationToken);
        if (cancel is null)
            return false;
        Log.ForContext("BuildId", id).Information("Build {BuildId} cancelled: {Reason}", id, reason);
        // The cancel is committed: a send that fails now is repeated at the worker's next heartbeat (OnStatusAsync).
        await TrySendCancelAsync(cancel, cancellationToken);
        return true;
    }

    private async Task TrySendCancelAsync(CancelBuild cancel, CancellationToken cancellationToken)
    {
        try
        {
            await control.CancelBuildAsync(cancel, cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            Log.ForContext("BuildId", cancel.BuildId).Warning(e,
                "Could not send CancelBuild for {BuildId}; the worker is told again at its next heartbeat that lists it", cancel.BuildId);
        }
    }

    /// <summary>Publishes every queued attempt not yet confirmed by the broker (start-up and periodic sweep).</summary>
    public async Task<int> PublishUnpublishedAsync(CancellationToken cancellationToken)
    {
        var pending = await db.RunAsync(s => BuildTable.ListAsync(s, "state = 'queued' AND published = 0"), cancellationToken);
        var count = 0;
        foreach (var b in pending.Where(b => !_publishing.ContainsKey((b.Id, b.Attempt))))
        {
            await PublishAsync(b, cancellationToken);
            count++;
        }

        return count;
    }

    /// <summary>
    /// A worker refused a copy of a request as too old. Republished with a fresh signature only when the attempt is
    /// still queued and unclaimed and the refused copy is the one last published (its issue time is the recorded
    /// <c>published_at</c>): a replay of an older copy, or a refusal of a build that has moved on, changes nothing.
    /// </summary>
    public async Task OnRequestExpiredAsync(BuildRequestExpired e, CancellationToken cancellationToken)
    {
        var log = Log.ForContext("BuildId", e.BuildId).ForContext("Worker", e.WorkerName).ForContext("Attempt", e.Attempt);
        var republish = await db.RunAsync(async s =>
        {
            var b = await BuildTable.GetAsync(s, e.BuildId);
            if (b is null || b.State != BuildState.Queued || b.Attempt != e.Attempt || !b.Published || b.PublishedAt is not { } last
                || e.IssuedAt < last)
            {
                return null;
            }

            if (time.GetUtcNow() - e.IssuedAt < e.MaxAge / 2)
            {
                // By our clock the copy is young, by the worker's too old: republishing would meet the same refusal at
                // once. The attempt is lost instead (bounded by MaxAttempts), and the reason names the clocks.
                Log.ForContext("BuildId", b.Id).ForContext("Worker", e.WorkerName).Error(
                    "Worker {Worker} refused {BuildId} attempt {Attempt} as expired, but the dispatcher issued it {AgeSeconds:0} s ago: the clocks disagree",
                    e.WorkerName, b.Id, b.Attempt, (time.GetUtcNow() - e.IssuedAt).TotalSeconds);
                await AttemptTable.InsertAsync(s, b.Id, b.Attempt, e.WorkerName, null, e.RefusedAt, "Infrastructure",
                    $"refused as expired by {e.WorkerName}, whose clock is far from the dispatcher's: {e.Reason}", null);
                return await RetryOrFailAsync(s, b, time.GetUtcNow());
            }

            await BuildTable.MarkUnpublishedAsync(s, b.Id, b.Attempt);
            return b with { Published = false };
        }, cancellationToken);
        if (republish is null)
        {
            log.Information("Ignored the expiry of {BuildId} attempt {Attempt} issued at {IssuedAt} (refused by {Worker}): a newer copy is out or the attempt moved on",
                e.BuildId, e.Attempt, e.IssuedAt);
            return;
        }

        log.Warning("Request {BuildId} attempt {Attempt} expired in the queue (refused by {Worker}: {Reason}); republishing it freshly signed",
            e.BuildId, e.Attempt, e.WorkerName, e.Reason);
        // Checkpoint: the row is unpublished again, so if this publish fails or we die first, the sweep republishes it.
        await PublishAsync(republish, cancellationToken);
    }

    private async Task PublishAsync(BuildRecord b, CancellationToken cancellationToken)
    {
        if (!_publishing.TryAdd((b.Id, b.Attempt), 0))
            return;
        // Read again under the guard: the row the caller holds may be stale. The sweep lists the unpublished rows,
        // then publishes them one by one; a submission's own publish that completed meanwhile (confirmed, marked,
        // guard released) must not go out twice (the duplicate claim would be cancelled, but a worker ran it).
        (OriginEndpoint?, IReadOnlyList<InputPath>, ContractVersionRoute)? read;
        try
        {
            read = await db.RunAsync(async s =>
            {
                if (!await BuildTable.IsUnpublishedAsync(s, b.Id, b.Attempt))
                    return null;
                var (o, c) = await BuildInputTable.GetAsync(s, b.Id);
                return ((OriginEndpoint?, IReadOnlyList<InputPath>, ContractVersionRoute)?)(o, c, await RouteAsync(s, await WorkerTable.CapabilitiesAsync(s), b.Class));
            }, cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            Log.ForContext("BuildId", b.Id).ForContext("Attempt", b.Attempt).Warning(e, "Could not publish attempt {Attempt} of {BuildId}; the sweep retries", b.Attempt, b.Id);
            _publishing.TryRemove((b.Id, b.Attempt), out _);
            return;
        }
        catch
        {
            _publishing.TryRemove((b.Id, b.Attempt), out _);
            throw;
        }

        if (read is not { } found)
        {
            _publishing.TryRemove((b.Id, b.Attempt), out _);
            return;
        }

        await SendAsync(b, found.Item1, found.Item2, found.Item3, cancellationToken);
    }

    /// <summary>The contract version to publish <paramref name="buildClass"/>'s request at, read under the gate.</summary>
    private async Task<ContractVersionRoute> RouteAsync(DbSession s, IReadOnlyList<WorkerCapabilities> capabilities, BuildClass buildClass) =>
        ContractVersionChoice.WhenEverySetSpeaks(capabilities, buildClass, settings.WritableContractVersions)
            ?? ContractVersionChoice.Choose(await WorkerTable.ListAsync(s), buildClass, settings.WritableContractVersions, time.GetUtcNow(), settings.OnlineWindow);

    /// <summary>
    /// Signs and publishes the attempt, then marks it published; the caller holds its guard in <c>_publishing</c>, released here.
    /// </summary>
    private async Task SendAsync(BuildRecord b, OriginEndpoint? origin, IReadOnlyList<InputPath> closure, ContractVersionRoute route, CancellationToken cancellationToken)
    {
        var log = Log.ForContext("BuildId", b.Id).ForContext("DrvPath", b.DrvPath).ForContext("Attempt", b.Attempt);
        try
        {
            if (route.Problem is not null)
                log.Warning("Attempt {Attempt} of {BuildId} published at contract version {ContractVersion}, which no capable worker speaks: {Problem}", b.Attempt, b.Id, route.Version, route.Problem);
            var request = new BuildDerivation(
                b.Id, b.Attempt, b.DrvPath, b.DrvText, b.StoreDir, b.System, b.Features, closure, b.WantedOutputs, origin,
                new BuildLimits(b.Timeout, b.MaxSilentTime), b.Priority, time.GetUtcNow(), b.Trusted);
            await publisher.PublishAsync(request, route.Version, cancellationToken);
            // Checkpoint: the broker confirmed the request (persistent, on a quorum queue); it is no longer ours to lose.
            // published_at is the copy's signed issue time: an expiry of any older copy is then told apart (OnRequestExpiredAsync).
            await db.RunAsync(s => BuildTable.MarkPublishedAsync(s, b.Id, b.Attempt, request.RequestedAt), cancellationToken);
            log.Information("Published attempt {Attempt} of {BuildId} at contract version {ContractVersion}", b.Attempt, b.Id, route.Version);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            log.Warning(e, "Could not publish attempt {Attempt} of {BuildId}; the sweep retries", b.Attempt, b.Id);
        }
        finally
        {
            _publishing.TryRemove((b.Id, b.Attempt), out _);
        }
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
