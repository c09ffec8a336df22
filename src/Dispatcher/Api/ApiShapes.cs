namespace BuildFarm.Dispatcher.Api;

/// <summary>POST /api/builds body. Give <see cref="DrvPath"/>, <see cref="DrvText"/> or both.</summary>
public sealed record SubmitBuildBody(
    string? DrvPath,
    string? DrvText,
    int Priority = 0,
    bool WaitForCapacity = false,
    double TimeoutSeconds = 0,
    double MaxSilentSeconds = 0);

public sealed record SubmitBuildResponse(Guid Id, string State, string? WaitingReason);

public sealed record ErrorResponse(string Error);

public sealed record AttemptView(int Attempt, string Worker, DateTimeOffset? StartedAt, DateTimeOffset? FinishedAt, string Outcome, string? Reason, int? ExitCode);

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
    IReadOnlyList<OutputView> Outputs);

public sealed record LogChunkView(long Seq, int Attempt, string Worker, string Text);

/// <summary>GET /api/builds/{id}/log: chunks after the cursor; <see cref="Next"/> is the next cursor.</summary>
public sealed record LogView(IReadOnlyList<LogChunkView> Chunks, long Next, string State);

public sealed record WorkerView(
    string Name,
    IReadOnlyList<string> Systems,
    IReadOnlyList<string> SupportedFeatures,
    IReadOnlyList<string> MandatoryFeatures,
    int Slots,
    double SpeedFactor,
    string State,
    bool Online,
    DateTimeOffset FirstSeen,
    DateTimeOffset LastSeen,
    string Version,
    double Load,
    long FreeDiskBytes,
    bool Draining,
    bool Paused,
    string? Note,
    int BuildsDone,
    int BuildsFailed);

/// <summary>A routing class: its queue, who can run it, and what waits in it.</summary>
public sealed record ClassView(string Key, string Queue, string System, IReadOnlyList<string> Features, IReadOnlyList<string> CapableWorkers, IReadOnlyList<string> OnlineWorkers, int Queued, int Running);
