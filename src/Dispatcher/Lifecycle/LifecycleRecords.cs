using BuildFarm.Contracts.Builds;
using BuildFarm.Contracts.Workers;
using BuildFarm.Messaging.Routing;

namespace BuildFarm.Dispatcher.Lifecycle;

/// <summary>
/// A row of <c>builds</c>. <see cref="Trusted"/>: an operator marked it so (it may run unsandboxed);
/// <see cref="Isolation"/>: how the current attempt's worker runs it, null while unclaimed or unknown.
/// </summary>
internal sealed record BuildRecord(
    Guid Id,
    string DrvPath,
    string DrvText,
    string StoreDir,
    string System,
    IReadOnlyList<string> Features,
    IReadOnlyList<string> WantedOutputs,
    string State,
    int Attempt,
    bool Published,
    string? Worker,
    DateTimeOffset? LeaseExpiresAt,
    int Priority,
    TimeSpan Timeout,
    TimeSpan MaxSilentTime,
    bool WaitForCapacity,
    string? FailureKind,
    string? FailureReason,
    int? ExitCode,
    DateTimeOffset SubmittedAt,
    DateTimeOffset? PublishedAt,
    DateTimeOffset? StartedAt,
    DateTimeOffset? FinishedAt,
    bool LogTruncated,
    bool Trusted = false,
    BuildIsolation? Isolation = null)
{
    /// <summary>The class its requests are routed by (with the trusted mark).</summary>
    public BuildClass Class => TrustedRouting.ClassOf(System, Features, Trusted);

    /// <summary>The same from the stored columns (<c>features</c> space separated).</summary>
    public static BuildClass ClassOf(string system, string features, bool trusted) =>
        TrustedRouting.ClassOf(system, features.Split(' ', StringSplitOptions.RemoveEmptyEntries), trusted);
}

/// <summary>A row of <c>attempts</c>: one claim of one attempt by one worker (duplicates and late results too).</summary>
internal sealed record AttemptRecord(
    int Attempt,
    string Worker,
    DateTimeOffset? StartedAt,
    DateTimeOffset? FinishedAt,
    string Outcome,
    string? Reason,
    int? ExitCode,
    BuildIsolation? Isolation = null);

/// <summary>A stored piece of log; <see cref="Seq"/> is the cursor of <c>GET /api/builds/{id}/log?after=SEQ</c>.</summary>
internal sealed record LogChunk(long Seq, int Attempt, string Worker, string Text);

/// <summary>A row of <c>outputs</c>.</summary>
internal sealed record OutputRecord(string Name, string Path, string NarHash, long NarSize, IReadOnlyList<string> References, IReadOnlyList<string> Signatures);

/// <summary>A row of <c>workers</c>.</summary>
internal sealed record WorkerRecord(
    string Name,
    WorkerCapabilities Capabilities,
    DateTimeOffset FirstSeen,
    DateTimeOffset LastSeen,
    string State,
    string Version,
    double Load,
    long FreeDiskBytes,
    bool Draining,
    bool Paused,
    string? Note,
    int BuildsDone,
    int BuildsFailed,
    WorkerIsolation? Isolation = null);
