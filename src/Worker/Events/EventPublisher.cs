using BuildFarm.Messaging.Signing;
using BuildFarm.Worker.Keys;
using MassTransit;
using Polly;
using Polly.Retry;
using Serilog;

namespace BuildFarm.Worker.Events;

/// <summary>
/// Publishes events through MassTransit, which awaits the broker's confirm: when this returns, the event is
/// durable on the broker. Transient broker failures are retried with backoff until the caller's token fires. Every
/// event is signed here with the worker's output key (<see cref="MessageSignatures"/>), so the dispatcher can tell it
/// speaks for this worker; an Ed25519 signature costs tens of microseconds, so heartbeats stay cheap.
/// </summary>
internal sealed class EventPublisher(IBus bus, WorkerKeys keys, ILogger logger)
{
    public ILogger Log => logger;

    private readonly ResiliencePipeline _retry = new ResiliencePipelineBuilder()
        .AddRetry(new RetryStrategyOptions
        {
            ShouldHandle = new PredicateBuilder().Handle<Exception>(e => e is not OperationCanceledException),
            MaxRetryAttempts = 8,
            BackoffType = DelayBackoffType.Exponential,
            Delay = TimeSpan.FromMilliseconds(250),
            MaxDelay = TimeSpan.FromSeconds(5),
            UseJitter = true,
            OnRetry = args =>
            {
                logger.Warning(args.Outcome.Exception, "Publishing an event failed (attempt {PublishAttempt}); retrying", args.AttemptNumber + 1);
                return ValueTask.CompletedTask;
            },
        })
        .Build();

    public async Task PublishAsync<T>(T message, CancellationToken cancellationToken)
        where T : class =>
        await PublishSignedAsync(MessageSignatures.Sign(message, keys.SigningKey), cancellationToken);

    private async Task PublishSignedAsync<T>(T signed, CancellationToken cancellationToken)
        where T : class =>
        await _retry.ExecuteAsync(async ct => await bus.Publish(signed, ct), cancellationToken);
}
