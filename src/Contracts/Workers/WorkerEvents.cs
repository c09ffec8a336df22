using BuildFarm.Contracts.Builds;

namespace BuildFarm.Contracts.Workers;

/// <summary>What a worker can run (Nix's machine semantics).</summary>
/// <param name="Systems">e.g. <c>x86_64-linux</c>, <c>i686-linux</c>.</param>
/// <param name="SupportedFeatures">Features it offers, e.g. <c>kvm</c>, <c>big-parallel</c>.</param>
/// <param name="MandatoryFeatures">Features every build it takes must require.</param>
/// <param name="Slots">Concurrent builds at most.</param>
/// <param name="SpeedFactor">Relative speed; faster machines are preferred.</param>
public sealed record WorkerCapabilities(
    IReadOnlyList<string> Systems,
    IReadOnlyList<string> SupportedFeatures,
    IReadOnlyList<string> MandatoryFeatures,
    int Slots,
    double SpeedFactor);

/// <summary>A build a worker is running, as reported in its heartbeat (renews that attempt's lease).</summary>
public sealed record RunningBuild(Guid BuildId, int Attempt);

/// <summary>How a worker runs builders, decided once at its start-up by a real probe build in its sandbox.</summary>
/// <param name="Isolation">Sandboxed, unsandboxed (takes only trusted builds) or none (takes no builds).</param>
/// <param name="Reason">The probe's words: what worked, or why the sandbox is not available here.</param>
public sealed record WorkerIsolation(BuildIsolation Isolation, string Reason);

/// <summary>A worker's store as a cache: its size and what it evicted since the worker started.</summary>
/// <param name="UsedBytes">NAR bytes of its valid paths, as of its last check (start-up or before a fetch).</param>
/// <param name="MaxBytes">Its <c>Store:MaxSizeBytes</c>; 0 = no cap.</param>
/// <param name="EvictedPaths">Paths evicted since the worker started (a counter that restarts with it).</param>
/// <param name="EvictedBytes">Their NAR bytes.</param>
public sealed record WorkerStoreUsage(long UsedBytes, long MaxBytes, long EvictedPaths, long EvictedBytes);

/// <summary>
/// Event: a worker's periodic status (also its first message, "online"). Each one renews the leases of the
/// builds it lists. <c>Isolation</c> says how it runs builders; optional and added later: null from a worker that
/// predates it (shown as unknown), and a dispatcher that predates it ignores it. <c>Store</c> likewise (added later, optional).
/// </summary>
public sealed record WorkerStatusReported(
    string WorkerName,
    WorkerCapabilities Capabilities,
    IReadOnlyList<RunningBuild> RunningBuilds,
    double Load,
    long FreeDiskBytes,
    string Version,
    bool Draining,
    bool Paused,
    string? Note,
    DateTimeOffset SentAt,
    WorkerIsolation? Isolation = null,
    WorkerStoreUsage? Store = null,
    string? Signature = null);

/// <summary>Event: a worker stopped cleanly (drained or aborted). <c>Signature</c>: the worker's, as on every worker event.</summary>
public sealed record WorkerWentOffline(string WorkerName, string Reason, DateTimeOffset At, string? Signature = null);

/// <summary>
/// Command: take no new builds, finish running ones, then exit. Like every control command it carries the
/// dispatcher's <c>IssuedAt</c> and <c>Signature</c> (contract version 2); workers refuse it without a valid, fresh one.
/// <c>CommandId</c> (added later, optional, signed when set) is unique per command: a worker applies an id once and
/// refuses a second delivery as a replay.
/// </summary>
public sealed record DrainWorker(string WorkerName, string? Note, DateTimeOffset? IssuedAt = null, string? Signature = null, Guid? CommandId = null);

/// <summary>Command: take no new builds until resumed; keeps running. Signed like <see cref="DrainWorker"/>.</summary>
public sealed record PauseWorker(string WorkerName, string? Note, DateTimeOffset? IssuedAt = null, string? Signature = null, Guid? CommandId = null);

/// <summary>Command: take builds again after a pause. Signed like <see cref="DrainWorker"/>.</summary>
public sealed record ResumeWorker(string WorkerName, DateTimeOffset? IssuedAt = null, string? Signature = null, Guid? CommandId = null);
