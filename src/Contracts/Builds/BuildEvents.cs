namespace BuildFarm.Contracts.Builds;

/// <summary>Event: a worker took an attempt of a build and holds a slot for it (its claim).</summary>
/// <param name="BuildId">The build.</param>
/// <param name="Attempt">The attempt claimed.</param>
/// <param name="WorkerName">The claiming worker.</param>
/// <param name="StartedAt">The worker's clock at the claim.</param>
/// <param name="Isolation">
/// How this worker runs the builder (chosen once at its start-up). Optional and added later: null from a worker that
/// predates it (read as unknown), and a dispatcher that predates it ignores it.
/// </param>
/// <param name="Signature">
/// The worker's <c>keyname:base64</c> signature over the event's canonical text (BuildFarm.Messaging.Signing), by
/// the key it signs outputs with. Required from contract version 2: the dispatcher drops an event without a valid one.
/// </param>
public sealed record BuildStarted(Guid BuildId, int Attempt, string WorkerName, DateTimeOffset StartedAt, BuildIsolation? Isolation = null, string? Signature = null);

/// <summary>How a worker runs builders: which executor ran (or would run) a build.</summary>
public enum BuildIsolation
{
    /// <summary>In the build sandbox (the start-up probe built in it).</summary>
    Sandboxed,

    /// <summary>
    /// As a plain child process with the worker's rights: the sandbox probe failed and the worker's config allows it
    /// (<c>AllowUnsandboxed</c>). Such a worker takes only builds an operator marked trusted.
    /// </summary>
    Unsandboxed,

    /// <summary>Not at all: the sandbox probe failed and <c>AllowUnsandboxed</c> is false (the worker stays paused).</summary>
    None,
}

/// <summary>Event: a piece of a build's log, in order of <paramref name="Sequence"/> per attempt.</summary>
/// <param name="BuildId">The build.</param>
/// <param name="Attempt">The attempt.</param>
/// <param name="WorkerName">The worker running it.</param>
/// <param name="Sequence">1, 2, … per attempt.</param>
/// <param name="Text">The lines.</param>
/// <param name="Signature">
/// The worker's <c>keyname:base64</c> signature over the event's canonical text (BuildFarm.Messaging.Signing), by
/// the key it signs outputs with. Required from contract version 2: the dispatcher drops an event without a valid one.
/// </param>
public sealed record BuildLogEmitted(Guid BuildId, int Attempt, string WorkerName, long Sequence, string Text, string? Signature = null);

/// <summary>Event: the attempt built every wanted output and the outputs are safely at the origin.</summary>
/// <param name="BuildId">The build.</param>
/// <param name="Attempt">The attempt that succeeded.</param>
/// <param name="WorkerName">The worker that ran it.</param>
/// <param name="Outputs">Every wanted output, registered and signed.</param>
/// <param name="Timings">How long each phase took on the worker.</param>
/// <param name="FinishedAt">When the attempt ended.</param>
/// <param name="InputBytesFetched">
/// NAR bytes of the input paths the worker pulled from the origin for this attempt (0 when every input was already
/// in its store). Optional and added later: null from a worker that predates it, and a dispatcher that predates it
/// ignores it, so old and new workers and dispatchers interoperate.
/// </param>
/// <param name="Signature">
/// The worker's <c>keyname:base64</c> signature over the event's canonical text (BuildFarm.Messaging.Signing), by
/// the key it signs outputs with. Required from contract version 2: the dispatcher drops an event without a valid one.
/// </param>
public sealed record BuildSucceeded(
    Guid BuildId,
    int Attempt,
    string WorkerName,
    IReadOnlyList<BuiltOutput> Outputs,
    PhaseTimings Timings,
    DateTimeOffset FinishedAt,
    long? InputBytesFetched = null,
    string? Signature = null);

/// <summary>One output of a successful build, as registered and signed by the worker.</summary>
/// <param name="Name">Output id, e.g. <c>out</c>.</param>
/// <param name="Path">Logical store path.</param>
/// <param name="NarHash"><c>sha256:&lt;nix32&gt;</c>.</param>
/// <param name="NarSize">NAR size in bytes.</param>
/// <param name="References">Full store paths it references.</param>
/// <param name="Signatures"><c>keyname:base64</c> signatures of its narinfo fingerprint.</param>
public sealed record BuiltOutput(
    string Name,
    string Path,
    string NarHash,
    long NarSize,
    IReadOnlyList<string> References,
    IReadOnlyList<string> Signatures);

/// <summary>Durations of the phases of an attempt on the worker.</summary>
public sealed record PhaseTimings(TimeSpan InputFetch, TimeSpan Build, TimeSpan Upload);

/// <summary>Event: the attempt ended without outputs.</summary>
/// <param name="BuildId">The build.</param>
/// <param name="Attempt">The attempt that failed.</param>
/// <param name="WorkerName">The worker that ran it (or refused it).</param>
/// <param name="Kind">Whether retrying elsewhere can help (<see cref="BuildFailureKind.Infrastructure"/>) or not.</param>
/// <param name="ExitCode">The builder's exit code, when it ran.</param>
/// <param name="Reason">One line for people.</param>
/// <param name="LogTail">The last lines of the log.</param>
/// <param name="FinishedAt">When the attempt ended.</param>
/// <param name="Signature">
/// The worker's <c>keyname:base64</c> signature over the event's canonical text (BuildFarm.Messaging.Signing), by
/// the key it signs outputs with. Required from contract version 2: the dispatcher drops an event without a valid one.
/// </param>
public sealed record BuildFailed(
    Guid BuildId,
    int Attempt,
    string WorkerName,
    BuildFailureKind Kind,
    int? ExitCode,
    string Reason,
    string LogTail,
    DateTimeOffset FinishedAt,
    string? Signature = null);

/// <summary>Why an attempt failed.</summary>
public enum BuildFailureKind
{
    /// <summary>The builder failed: deterministic, not retried.</summary>
    BuildFailure,

    /// <summary>The build exceeded its timeout or max-silent-time.</summary>
    Timeout,

    /// <summary>The machine, the transfer or the broker failed: retried on another attempt.</summary>
    Infrastructure,

    /// <summary>The request was malformed, unsigned, or not runnable here.</summary>
    Rejected,
}

/// <summary>Command: stop a build; the worker kills its whole process tree.</summary>
/// <param name="BuildId">The build.</param>
/// <param name="Reason">One line for people (logged by the worker).</param>
/// <param name="WorkerName">When set, only this worker acts (e.g. it lost a duplicate claim); null = whoever runs it.</param>
/// <param name="Attempt">When set, only this attempt of the build is stopped; null = any attempt.</param>
/// <param name="IssuedAt">The dispatcher's clock when it signed the command (workers refuse old ones).</param>
/// <param name="Signature">The dispatcher's <c>keyname:base64</c> signature over the command's canonical text (contract version 2).</param>
/// <param name="CommandId">
/// Unique per command, signed with it (added later, optional: it enters the signed text only when set). A worker
/// applies a command id once: a second delivery within the freshness window is a replay and is refused.
/// </param>
public sealed record CancelBuild(Guid BuildId, string Reason, string? WorkerName = null, int? Attempt = null, DateTimeOffset? IssuedAt = null, string? Signature = null,
    Guid? CommandId = null);

/// <summary>
/// Event: a worker refused a validly signed request because it was issued longer ago than the worker's maximum age
/// (it sat in the queue, or someone replayed it). The dispatcher republishes a freshly signed copy when the attempt is
/// still wanted and the refused copy is the one it last published; otherwise the refusal changes nothing.
/// </summary>
/// <param name="BuildId">The build.</param>
/// <param name="Attempt">The attempt of the refused copy.</param>
/// <param name="WorkerName">The refusing worker.</param>
/// <param name="IssuedAt">The refused copy's signed issue time.</param>
/// <param name="RefusedAt">The worker's clock at the refusal.</param>
/// <param name="Reason">One line for people.</param>
/// <param name="MaxAge">The refusing worker's maximum request age: a dispatcher whose own clock finds the copy younger
/// than that knows the two clocks disagree, and does not republish into the same refusal.</param>
/// <param name="Signature">
/// The worker's <c>keyname:base64</c> signature over the event's canonical text (BuildFarm.Messaging.Signing), by
/// the key it signs outputs with. Required from contract version 2: the dispatcher drops an event without a valid one.
/// </param>
public sealed record BuildRequestExpired(Guid BuildId, int Attempt, string WorkerName, DateTimeOffset IssuedAt, DateTimeOffset RefusedAt, string Reason, TimeSpan MaxAge, string? Signature = null);
