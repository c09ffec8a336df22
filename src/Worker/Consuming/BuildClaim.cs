using BuildFarm.Contracts.Builds;
using BuildFarm.Worker.Configuration;
using BuildFarm.Worker.Events;
using BuildFarm.Worker.Execution;
using BuildFarm.Worker.Lifecycle;
using Microsoft.Extensions.Options;
using RabbitMQ.Client.Events;
using Serilog;
using Serilog.Context;

namespace BuildFarm.Worker.Consuming;

/// <summary>
/// The claim protocol for one delivery of a class queue: verify → take a slot → publish BuildStarted
/// (broker-confirmed) → ack, then run the attempt in the background. The ack follows the delivery within about a
/// second, so the broker's consumer_timeout never applies to long builds; from the ack on, the build is protected by
/// the dispatcher's lease (renewed by heartbeats), not by the broker.
/// </summary>
internal sealed class BuildClaim(
    IOptions<WorkerOptions> options,
    RequestVerifier verifier,
    SlotGate slots,
    WorkerState state,
    RunningBuilds running,
    AttemptRunner runner,
    EventPublisher events,
    IsolationChoice isolation,
    TimeProvider time,
    ILogger logger)
{
    private static readonly TimeSpan ClaimBudget = TimeSpan.FromSeconds(30);
    internal static readonly TimeSpan ClockRetryInterval = TimeSpan.FromSeconds(30);
    // Logged as the consumer it serves, as before it was its own type (log queries filter by SourceContext).
    private readonly ILogger _log = logger.ForContext<BuildQueueConsumer>();

    /// <param name="consumer">The class consumer the delivery came from.</param>
    /// <param name="ea">The delivery.</param>
    /// <param name="pauseConsumers">Stops every class consumer (before a refused delivery is requeued).</param>
    /// <param name="ct">The consumers are stopping.</param>
    public async Task OnDeliveryAsync(ClassConsumer consumer, BasicDeliverEventArgs ea, Func<CancellationToken, Task> pauseConsumers, CancellationToken ct)
    {
        var verdict = verifier.Verify(ea.Body, consumer.Class);
        if (!verdict.Accepted)
        {
            await RejectAsync(consumer, ea, verdict, pauseConsumers, ct);
            return;
        }

        var request = verdict.Request!;
        using var _ = LogContext.PushProperty("BuildId", request.BuildId);
        using var __ = LogContext.PushProperty("DrvPath", request.DrvPath);
        using var ___ = LogContext.PushProperty("Attempt", request.Attempt);
        if (running.TryGet(request.BuildId, out var existing) && existing!.Attempt == request.Attempt)
        {
            // A redelivery of an attempt we already claimed (the channel broke before our ack): drop it.
            await consumer.Channel.BasicAckAsync(ea.DeliveryTag, multiple: false, ct);
            _log.Information("Dropped a redelivery of {DrvPath} attempt {Attempt}, already running here", request.DrvPath, request.Attempt);
            return;
        }

        if (!state.TakesBuilds || !slots.TryTake())
        {
            // Pause first, then requeue: otherwise the broker could hand the message straight back to us.
            await pauseConsumers(ct);
            await consumer.Channel.BasicNackAsync(ea.DeliveryTag, multiple: false, requeue: true, ct);
            _log.Debug("No free slot for {DrvPath}: consumers paused, request requeued", request.DrvPath);
            return;
        }

        // Until the build is in `running` (or the claim failed): a drain beginning now waits for it.
        using var claiming = running.Claiming();
        var handle = new RunningBuildHandle(request.BuildId, request.Attempt, request.DrvPath);
        try
        {
            using var budget = CancellationTokenSource.CreateLinkedTokenSource(ct);
            budget.CancelAfter(ClaimBudget);
            await events.PublishAsync(new BuildStarted(request.BuildId, request.Attempt, options.Value.Name, time.GetUtcNow(), isolation.Current?.Isolation), budget.Token);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Nothing ran and nothing was acked: the broker keeps the request for another consumer.
            handle.Dispose();
            slots.Release();
            _log.Warning(e, "Could not publish BuildStarted for {DrvPath}; request requeued", request.DrvPath);
            await consumer.Channel.BasicNackAsync(ea.DeliveryTag, multiple: false, requeue: true, CancellationToken.None);
            return;
        }

        running.TryAdd(handle);
        try
        {
            await consumer.Channel.BasicAckAsync(ea.DeliveryTag, multiple: false, ct);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // The broker will redeliver (maybe elsewhere): a duplicate claim of this attempt, which the dispatcher
            // resolves by cancelling the loser. We keep building meanwhile.
            _log.Warning(e, "Ack of {DrvPath} failed after BuildStarted; a duplicate claim may follow", request.DrvPath);
        }

        handle.Completion = Task.Run(() => RunClaimedAsync(request, verdict.Recipe!, handle), CancellationToken.None);
    }

    private async Task RunClaimedAsync(BuildDerivation request, BuildRecipe recipe, RunningBuildHandle handle)
    {
        try
        {
            await runner.RunAsync(request, recipe, handle);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            _log.Error(e, "Build {BuildId} of {DrvPath} ended with an unexpected error", request.BuildId, request.DrvPath);
            try
            {
                using var budget = new CancellationTokenSource(TimeSpan.FromSeconds(30), time);
                await events.PublishAsync(new BuildFailed(request.BuildId, request.Attempt, options.Value.Name, BuildFailureKind.Infrastructure,
                    null, $"worker error: {e.Message}", "", time.GetUtcNow()), budget.Token);
            }
            catch (OperationCanceledException)
            {
                _log.Error("Could not report the failure of {BuildId}; its lease will expire", request.BuildId);
            }
        }
        finally
        {
            running.Remove(handle);
            handle.Dispose();
            slots.Release();
        }
    }

    /// <summary>
    /// A genuine request that is too old: the dispatcher is told first, then the copy is acked (not dead-lettered: it is
    /// only stale). If we die between the two, the copy is redelivered and refused again, so the dispatcher always
    /// hears of it; if the event cannot be published, the copy is requeued rather than lost.
    /// </summary>
    private async Task ExpireAsync(ClassConsumer consumer, BasicDeliverEventArgs ea, BuildDerivation request, DateTimeOffset issuedAt, string reason, CancellationToken ct)
    {
        using var _ = LogContext.PushProperty("BuildId", request.BuildId);
        _log.Warning("Refused expired request {BuildId} attempt {Attempt} from {Queue}: {Reason}", request.BuildId, request.Attempt, consumer.Class.QueueName, reason);
        try
        {
            using var budget = CancellationTokenSource.CreateLinkedTokenSource(ct);
            budget.CancelAfter(ClaimBudget);
            await events.PublishAsync(new BuildRequestExpired(request.BuildId, request.Attempt, options.Value.Name, issuedAt, time.GetUtcNow(), reason, options.Value.Freshness.MaxRequestAge), budget.Token);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            _log.Warning(e, "Could not report the expired request {BuildId}; requeued", request.BuildId);
            await consumer.Channel.BasicNackAsync(ea.DeliveryTag, multiple: false, requeue: true, CancellationToken.None);
            return;
        }

        // Checkpoint: the dispatcher has the expiry (broker-confirmed); this copy is no longer needed.
        await consumer.Channel.BasicAckAsync(ea.DeliveryTag, multiple: false, ct);
    }

    /// <summary>
    /// A genuine request of a contract version this worker does not speak: the dispatcher is told first with an
    /// infrastructure failure of that attempt (an event every dispatcher version understands; it retries the build at a
    /// version a capable worker announces, within its attempt limit), then the copy is acked. If we die between the two,
    /// the copy is redelivered and refused again; if the event cannot be published, the copy is requeued, never lost.
    /// </summary>
    private async Task RefuseVersionAsync(ClassConsumer consumer, BasicDeliverEventArgs ea, Guid buildId, int attempt, string reason, CancellationToken ct)
    {
        using var _ = LogContext.PushProperty("BuildId", buildId);
        _log.Warning("Refused request {BuildId} attempt {Attempt} from {Queue}: {Reason}", buildId, attempt, consumer.Class.QueueName, reason);
        try
        {
            using var budget = CancellationTokenSource.CreateLinkedTokenSource(ct);
            budget.CancelAfter(ClaimBudget);
            await events.PublishAsync(new BuildFailed(buildId, attempt, options.Value.Name, BuildFailureKind.Infrastructure, null,
                "refused: " + reason, "", time.GetUtcNow()), budget.Token);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            _log.Warning(e, "Could not report the refusal of {BuildId}; requeued", buildId);
            await consumer.Channel.BasicNackAsync(ea.DeliveryTag, multiple: false, requeue: true, CancellationToken.None);
            return;
        }

        // Checkpoint: the dispatcher has the refusal (broker-confirmed); this copy is no longer needed.
        await consumer.Channel.BasicAckAsync(ea.DeliveryTag, multiple: false, ct);
    }

    /// <summary>
    /// A genuine request from this worker's future: the clock here is behind the dispatcher's, so every request would
    /// meet the same refusal. The worker pauses itself (<see cref="SelfPauseKind.ClockBehind"/>, in its heartbeat) and
    /// the request goes back to the queue for another worker: no build fails for a wrong clock. After
    /// <see cref="ClockRetryInterval"/> it claims again, and pauses again at the next request if the clock is still wrong.
    /// </summary>
    private async Task ClockBehindAsync(ClassConsumer consumer, BasicDeliverEventArgs ea, RequestVerdict verdict, Func<CancellationToken, Task> pauseConsumers, CancellationToken ct)
    {
        if (state.PauseItself(SelfPauseKind.ClockBehind, $"clock behind the dispatcher's: {verdict.RejectReason}"))
        {
            _log.Warning("Stopped claiming builds for {Interval}: {Reason}; request {BuildId} requeued for another worker",
                ClockRetryInterval, verdict.RejectReason, verdict.Request!.BuildId);
            _ = Task.Run(async () =>
            {
                await Task.Delay(ClockRetryInterval, time, CancellationToken.None);
                state.ResumeItself(SelfPauseKind.ClockBehind);
            }, CancellationToken.None);
        }

        // Pause first, then requeue: otherwise the broker could hand the message straight back to us.
        await pauseConsumers(ct);
        await consumer.Channel.BasicNackAsync(ea.DeliveryTag, multiple: false, requeue: true, ct);
    }

    private async Task RejectAsync(ClassConsumer consumer, BasicDeliverEventArgs ea, RequestVerdict verdict, Func<CancellationToken, Task> pauseConsumers, CancellationToken ct)
    {
        if (verdict.ClockBehind)
        {
            await ClockBehindAsync(consumer, ea, verdict, pauseConsumers, ct);
            return;
        }

        if (verdict.ExpiredIssuedAt is { } issuedAt)
        {
            await ExpireAsync(consumer, ea, verdict.Request!, issuedAt, verdict.RejectReason!, ct);
            return;
        }

        if (verdict.Unspoken is var (buildId, attempt))
        {
            await RefuseVersionAsync(consumer, ea, buildId, attempt, verdict.RejectReason!, ct);
            return;
        }

        // requeue:false dead-letters it to buildfarm.dead → buildfarm.dead-letters for inspection.
        await consumer.Channel.BasicRejectAsync(ea.DeliveryTag, requeue: false, ct);
        var request = verdict.Request;
        if (request is null)
        {
            _log.Warning("Dead-lettered a request from {Queue}: {Reason}", consumer.Class.QueueName, verdict.RejectReason);
            return;
        }

        using var _ = LogContext.PushProperty("BuildId", request.BuildId);
        _log.Warning("Dead-lettered request {BuildId} from {Queue}: {Reason}", request.BuildId, consumer.Class.QueueName, verdict.RejectReason);
        using var budget = CancellationTokenSource.CreateLinkedTokenSource(ct);
        budget.CancelAfter(ClaimBudget);
        await events.PublishAsync(new BuildFailed(request.BuildId, request.Attempt, options.Value.Name, BuildFailureKind.Rejected, null,
            verdict.RejectReason!, "", time.GetUtcNow()), budget.Token);
    }
}
