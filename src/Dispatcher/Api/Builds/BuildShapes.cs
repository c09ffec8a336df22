using BuildFarm.Dispatcher.Lifecycle;

namespace BuildFarm.Dispatcher.Api;

/// <summary>
/// POST /api/builds body. Give <see cref="DrvPath"/>, <see cref="DrvText"/> or both. <see cref="Trusted"/>: the
/// operator trusts this derivation to run on a worker without a sandbox (docs/SECURITY.md).
/// </summary>
public sealed record SubmitBuildBody(
    string? DrvPath,
    string? DrvText,
    int Priority = 0,
    bool WaitForCapacity = false,
    double TimeoutSeconds = 0,
    double MaxSilentSeconds = 0,
    bool Trusted = false);

public sealed record SubmitBuildResponse(Guid Id, string State, string? WaitingReason);

/// <summary>One attempt; <see cref="Isolation"/>: <c>sandboxed</c>, <c>unsandboxed</c> or null (unknown: an older worker).</summary>
public sealed record AttemptView(int Attempt, string Worker, DateTimeOffset? StartedAt, DateTimeOffset? FinishedAt, string Outcome, string? Reason, int? ExitCode, string? Isolation = null);

public sealed record OutputView(string Name, string Path, string NarHash, long NarSize, IReadOnlyList<string> References, IReadOnlyList<string> Signatures);

public sealed record BuildView(
    Guid Id,
    string DrvPath,
    string System,
    IReadOnlyList<string> Features,
    string ClassKey,
    string State,
    int Attempt,
    bool Published,
    string? Worker,
    int Priority,
    string? WaitingReason,
    string? FailureKind,
    string? FailureReason,
    int? ExitCode,
    DateTimeOffset SubmittedAt,
    DateTimeOffset? PublishedAt,
    DateTimeOffset? StartedAt,
    DateTimeOffset? FinishedAt,
    DateTimeOffset? LeaseExpiresAt,
    bool LogTruncated,
    IReadOnlyList<AttemptView> Attempts,
    IReadOnlyList<OutputView> Outputs,
    bool Trusted = false,
    string? Isolation = null);

public sealed record LogChunkView(long Seq, int Attempt, string Worker, string Text);

/// <summary>GET /api/builds/{id}/log: chunks after the cursor; <see cref="Next"/> is the next cursor.</summary>
public sealed record LogView(IReadOnlyList<LogChunkView> Chunks, long Next, string State);

/// <summary>GET /api/builds/search: a page of builds plus the total that matched, so the UI can page server-side.</summary>
public sealed record BuildPage(long Total, int Offset, int Limit, IReadOnlyList<BuildSummary> Items);

/// <summary>POST /api/builds/{id}/retry answer: the new build of the same derivation.</summary>
public sealed record RetryResponse(Guid Id, Guid RetryOf, string State, string? WaitingReason);

/// <summary>One step of a build's timeline; <see cref="Open"/> while it is still going on.</summary>
public sealed record PhaseView(string Name, string? Worker, DateTimeOffset? Start, double Seconds, bool Open);

/// <summary>GET /api/builds/{id}/phases: queue wait, then per attempt its phases as the worker reported them (when it did).</summary>
public sealed record PhasesView(Guid Id, IReadOnlyList<PhaseView> Phases);
