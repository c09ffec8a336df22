namespace BuildFarm.Worker.Supervision;

/// <summary>How a builder run ended.</summary>
public enum BuilderOutcome
{
    /// <summary>The builder ran and exited by itself; see <see cref="BuilderResult.ExitCode"/>.</summary>
    Exited,

    /// <summary>Killed (whole tree) after <see cref="BuilderSpec.Timeout"/>.</summary>
    TimedOut,

    /// <summary>Killed (whole tree) after <see cref="BuilderSpec.MaxSilentTime"/> without output.</summary>
    Silent,

    /// <summary>Killed (whole tree) because the caller's token was cancelled.</summary>
    Cancelled,

    /// <summary>Killed (whole tree), or stopped by a kernel limit, for using more than the sandbox allows (disk); a build failure.</summary>
    LimitExceeded,

    /// <summary>The spec can never run anywhere (e.g. an environment name containing '='): a build failure.</summary>
    Rejected,

    /// <summary>The machine could not start the builder (unshare, mount, missing store dir, setsid): an
    /// infrastructure failure, worth retrying on another worker. The builder never started.</summary>
    SetupFailed,
}

/// <summary>The end of one builder run. When this is returned, no process of the build is left alive.</summary>
/// <param name="Outcome">How it ended.</param>
/// <param name="ExitCode">The builder's exit status when it ran to an end (128+N when killed by signal N);
/// null if it never started.</param>
/// <param name="Error">What went wrong, for every outcome other than a builder that exited: reaches the user verbatim.</param>
/// <param name="Elapsed">Wall-clock time from launch to the end of the whole tree.</param>
/// <param name="LogBytes">Bytes of combined stdout/stderr passed to the log callback.</param>
public sealed record BuilderResult(BuilderOutcome Outcome, int? ExitCode, string? Error, TimeSpan Elapsed, long LogBytes)
{
    /// <summary>The builder exited 0.</summary>
    public bool Succeeded => Outcome == BuilderOutcome.Exited && ExitCode == 0;
}

/// <summary>A limit checked every <paramref name="Interval"/> while the builder runs: <paramref name="Check"/> returns why to kill it, or null.</summary>
public sealed record ResourceWatch(TimeSpan Interval, Func<string?> Check);
