namespace BuildFarm.Transfer.Resilience;

/// <summary>Retry and circuit-breaker settings for the transport to one origin.</summary>
public sealed record TransferResilienceOptions
{
    /// <summary>Retries after the first attempt of one operation (0 = no retry).</summary>
    public int MaxRetryAttempts { get; init; } = 6;

    /// <summary>First retry delay; doubles per retry, with jitter.</summary>
    public TimeSpan BaseDelay { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Cap on one retry delay.</summary>
    public TimeSpan MaxDelay { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Share of failed attempts within <see cref="SamplingDuration"/> that opens the circuit.</summary>
    public double FailureRatio { get; init; } = 0.8;

    /// <summary>Attempts within <see cref="SamplingDuration"/> before the breaker may judge the origin (at least 2).</summary>
    public int MinimumThroughput { get; init; } = 10;

    public TimeSpan SamplingDuration { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>How long an open circuit fails calls fast before letting one probe through.</summary>
    public TimeSpan BreakDuration { get; init; } = TimeSpan.FromSeconds(30);

    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (MaxRetryAttempts < 0)
            errors.Add($"MaxRetryAttempts {MaxRetryAttempts} must be 0 or more.");
        if (BaseDelay <= TimeSpan.Zero || MaxDelay < BaseDelay)
            errors.Add($"BaseDelay {BaseDelay} must be positive and at most MaxDelay {MaxDelay}.");
        if (FailureRatio is <= 0 or > 1)
            errors.Add($"FailureRatio {FailureRatio} must be in (0, 1].");
        if (MinimumThroughput < 2)
            errors.Add($"MinimumThroughput {MinimumThroughput} must be at least 2.");
        if (SamplingDuration < TimeSpan.FromMilliseconds(500))
            errors.Add($"SamplingDuration {SamplingDuration} must be at least 0.5 s.");
        if (BreakDuration < TimeSpan.FromMilliseconds(500))
            errors.Add($"BreakDuration {BreakDuration} must be at least 0.5 s.");
        return errors;
    }
}
