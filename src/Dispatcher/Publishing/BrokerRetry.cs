using System.Net.Sockets;
using Polly;
using Polly.Retry;
using RabbitMQ.Client.Exceptions;
using Serilog;

namespace BuildFarm.Dispatcher.Publishing;

/// <summary>Polly pipeline for transient broker errors: exponential backoff with jitter, capped at 5 s, ~2 min in all.</summary>
internal static class BrokerRetry
{
    public static ResiliencePipeline Create(TimeProvider time, int maxAttempts = 30) => new ResiliencePipelineBuilder { TimeProvider = time }
        .AddRetry(new RetryStrategyOptions
        {
            ShouldHandle = new PredicateBuilder().Handle<Exception>(IsTransient),
            MaxRetryAttempts = maxAttempts,
            BackoffType = DelayBackoffType.Exponential,
            UseJitter = true,
            Delay = TimeSpan.FromMilliseconds(200),
            MaxDelay = TimeSpan.FromSeconds(5),
            OnRetry = args =>
            {
                Log.Warning("Broker operation failed ({Error}); retry {Retry} in {Delay}", args.Outcome.Exception?.Message, args.AttemptNumber + 1, args.RetryDelay);
                return ValueTask.CompletedTask;
            },
        })
        .Build();

    /// <summary>Connection loss, recovery in progress, a nack or a return: worth trying again.</summary>
    public static bool IsTransient(Exception e) => e is BrokerUnreachableException or AlreadyClosedException
        or OperationInterruptedException or PublishException or ConnectFailureException or IOException or SocketException
        or TimeoutException or ObjectDisposedException;
}
