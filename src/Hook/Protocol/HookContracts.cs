namespace BuildFarm.Hook.Protocol;

/// <summary>One build the daemon offers the hook (Nix's <c>try</c> message, Guix's candidate line).</summary>
/// <param name="AmWilling">The daemon could build it locally right now (it has a free local slot).</param>
/// <param name="System">The derivation's <c>system</c>.</param>
/// <param name="DrvPath">The <c>.drv</c> store path.</param>
/// <param name="Features">The derivation's <c>requiredSystemFeatures</c>.</param>
public sealed record HookCandidate(bool AmWilling, string System, string DrvPath, IReadOnlyList<string> Features);

public enum HookVerdict
{
    /// <summary>A capable worker has a free slot: the farm takes the build.</summary>
    Accept,

    /// <summary>Capable workers exist but none is free (or the farm cannot take work just now): ask again later.</summary>
    Postpone,

    /// <summary>No machine of the farm could ever build it (or the farm is unreachable): the daemon builds it itself.</summary>
    Decline,
}

/// <summary>The farm's answer to a candidate; <see cref="Reason"/> is shown to the user as the hook's log line.</summary>
public sealed record HookDecision(HookVerdict Verdict, string Machine, string Reason);

public enum HookOutcome
{
    Built,
    BuildFailed,
    TimedOut,
    Failed,
}

/// <summary>How a farm build ended, for the hook's exit code (0 built, 100 build failure, 101 timeout, 1 other).</summary>
public sealed record HookBuildResult(HookOutcome Outcome, string Message, IReadOnlyList<string> OutputPaths)
{
    public int ExitCode => Outcome switch
    {
        HookOutcome.Built => 0,
        HookOutcome.BuildFailed => 100,
        HookOutcome.TimedOut => 101,
        _ => 1,
    };
}

/// <summary>What a hook session needs from the farm: a decision per candidate, and one build once accepted.</summary>
public interface IHookFarm
{
    /// <summary>Never throws for an unreachable farm: that is a decline with the reason.</summary>
    Task<HookDecision> DecideAsync(HookCandidate candidate, CancellationToken cancellationToken);

    /// <summary>
    /// Builds <paramref name="drvPath"/> on the farm, copying the builder's log to <paramref name="log"/> as it
    /// comes; on success the wanted outputs are valid in the daemon's store when this returns.
    /// </summary>
    Task<HookBuildResult> BuildAsync(string drvPath, IReadOnlyList<string> wantedOutputs, Stream log, CancellationToken cancellationToken);
}
