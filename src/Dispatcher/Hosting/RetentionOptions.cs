namespace BuildFarm.Dispatcher.Hosting;

/// <summary>The <c>Dispatcher:Retention</c> section: how long finished builds (attempts, logs, outputs) and graphs are kept.</summary>
public sealed class RetentionOptions
{
    /// <summary>Finished builds and graphs older than this (since they finished) are deleted; 0 = kept whatever their age. Default 90 days.</summary>
    public TimeSpan MaxAge { get; set; } = TimeSpan.FromDays(90);

    /// <summary>At most this many finished builds are kept, the oldest deleted first; 0 = no count limit. Default 100000.</summary>
    public long MaxFinishedBuilds { get; set; } = 100_000;

    /// <summary>How often the sweep runs (also once a minute after start-up). Default 1 hour; 1 minute to 1 day.</summary>
    public TimeSpan SweepInterval { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Builds deleted per transaction: the lifecycle waits at most one batch. Default 200; 1 to 10000.</summary>
    public int BatchSize { get; set; } = 200;

    /// <summary>Problems, each naming the key, the bad value and what would be valid.</summary>
    public IEnumerable<string> Problems()
    {
        if (MaxAge < TimeSpan.Zero || (MaxAge > TimeSpan.Zero && MaxAge < TimeSpan.FromHours(1)))
            yield return $"Dispatcher:Retention:MaxAge '{MaxAge}' must be 0 (keep) or at least 01:00:00 (default 90.00:00:00)";
        if (MaxFinishedBuilds < 0)
            yield return $"Dispatcher:Retention:MaxFinishedBuilds '{MaxFinishedBuilds}' must be 0 (no limit) or a positive count (default 100000)";
        if (SweepInterval < TimeSpan.FromMinutes(1) || SweepInterval > TimeSpan.FromDays(1))
            yield return $"Dispatcher:Retention:SweepInterval '{SweepInterval}' must be between 00:01:00 and 1.00:00:00 (default 01:00:00)";
        if (BatchSize is < 1 or > 10_000)
            yield return $"Dispatcher:Retention:BatchSize '{BatchSize}' must be between 1 and 10000 (default 200)";
    }
}
