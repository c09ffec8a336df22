using BuildFarm.Transfer.Errors;
using Polly;
using Polly.CircuitBreaker;
using Polly.Retry;
using Serilog;

namespace BuildFarm.Transfer.Resilience;

/// <summary>
/// The resilience pipeline of one origin: retries with exponential backoff and jitter around a circuit breaker that
/// counts every attempt. Transient failures (see <see cref="TransientFailure"/>) are retried; when retries run out
/// or the circuit is open the caller gets a <see cref="TransferInfrastructureException"/> (retry elsewhere).
/// Other failures (host key mismatch, remote command failure, cancellation) pass through untouched.
/// </summary>
public sealed class OriginResilience
{
    private readonly string _origin;
    private readonly ILogger _logger;
    private readonly ResiliencePipeline _pipeline;
    private long _retries;
    private long _circuitOpenings;

    public OriginResilience(string origin, TransferResilienceOptions options, ILogger? logger = null, TimeProvider? timeProvider = null)
    {
        var errors = options.Validate();
        if (errors.Count > 0)
            throw new ArgumentException($"Transfer resilience options for {origin} are invalid: {string.Join(" ", errors)}", nameof(options));
        _origin = origin;
        _logger = (logger ?? Log.Logger).ForContext<OriginResilience>();
        var transient = new PredicateBuilder().Handle<Exception>(TransientFailure.IsTransient);
        var builder = new ResiliencePipelineBuilder { TimeProvider = timeProvider ?? TimeProvider.System };
        if (options.MaxRetryAttempts > 0)
        {
            builder.AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = transient,
                MaxRetryAttempts = options.MaxRetryAttempts,
                Delay = options.BaseDelay,
                MaxDelay = options.MaxDelay,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                OnRetry = args =>
                {
                    Interlocked.Increment(ref _retries);
                    _logger.Warning(
                        "Transfer to {Origin} failed ({Error}); retry {Attempt} of {MaxAttempts} in {Delay}",
                        _origin, args.Outcome.Exception?.Message, args.AttemptNumber + 1, options.MaxRetryAttempts, args.RetryDelay);
                    return default;
                },
            });
        }

        builder.AddCircuitBreaker(new CircuitBreakerStrategyOptions
        {
            ShouldHandle = transient,
            FailureRatio = options.FailureRatio,
            MinimumThroughput = options.MinimumThroughput,
            SamplingDuration = options.SamplingDuration,
            BreakDuration = options.BreakDuration,
            OnOpened = args =>
            {
                Interlocked.Increment(ref _circuitOpenings);
                _logger.Error(
                    "Circuit to origin {Origin} opened for {BreakDuration} after repeated failures ({Error})",
                    _origin, args.BreakDuration, args.Outcome.Exception?.Message);
                return default;
            },
            OnClosed = _ =>
            {
                _logger.Information("Circuit to origin {Origin} closed: transfers work again", _origin);
                return default;
            },
        });
        _pipeline = builder.Build();
    }

    /// <summary>Retries performed so far (each logged).</summary>
    public long Retries => Interlocked.Read(ref _retries);

    /// <summary>Times the circuit opened so far.</summary>
    public long CircuitOpenings => Interlocked.Read(ref _circuitOpenings);

    /// <summary>Runs <paramref name="operation"/> (which must be safe to run again from scratch) under retry and breaker.</summary>
    public async Task<T> ExecuteAsync<T>(Func<CancellationToken, Task<T>> operation, CancellationToken cancellationToken)
    {
        var attempts = 0;
        try
        {
            return await _pipeline.ExecuteAsync(
                async ct =>
                {
                    attempts++;
                    return await operation(ct);
                },
                cancellationToken);
        }
        catch (BrokenCircuitException e)
        {
            var retryAfter = e.RetryAfter is { } after ? $" for about {after.TotalSeconds:0} s more" : "";
            throw new TransferInfrastructureException(
                _origin,
                $"Origin {_origin} is unavailable: its circuit is open after repeated transfer failures{retryAfter}; "
                    + "not trying it now (retry elsewhere or later). Last failure: " + (e.InnerException?.Message ?? e.Message),
                attempts,
                circuitOpen: true,
                e);
        }
        catch (Exception e) when (TransientFailure.IsTransient(e))
        {
            throw new TransferInfrastructureException(
                _origin,
                $"Transfer to origin {_origin} failed after {attempts} attempt(s): {e.Message}",
                attempts,
                circuitOpen: false,
                e);
        }
    }
}
