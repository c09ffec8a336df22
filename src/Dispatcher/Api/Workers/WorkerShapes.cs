namespace BuildFarm.Dispatcher.Api;

/// <summary>
/// One worker as GET /api/workers shows it. <see cref="Isolation"/>: how it runs builders, from its heartbeat:
/// <c>sandboxed</c>, <c>unsandboxed</c> (its sandbox probe failed and its config allows it: it takes only trusted
/// builds), <c>none</c> (no sandbox and not allowed: paused) or <c>unknown</c> (a worker that does not report it);
/// <see cref="IsolationReason"/> is the probe's words. <see cref="ContractVersions"/>: the message contract versions it
/// speaks, read from the contract marks among its features (BuildFarm.Messaging.Routing.ContractRouting).
/// <see cref="ClockSkewSeconds"/>: the worker's clock against the
/// dispatcher's at its last heartbeat (positive: ahead; includes the heartbeat's transit), null before one arrived.
/// A worker that paused itself (disk full, origin unreachable, clock behind) is <see cref="Paused"/> with the reason in
/// <see cref="Note"/> (<c>paused itself: …</c>).
/// </summary>
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
    int BuildsFailed,
    string Isolation = "unknown",
    string? IsolationReason = null,
    IReadOnlyList<int>? ContractVersions = null,
    double? ClockSkewSeconds = null);

/// <summary>POST /api/workers/{name}/drain|pause body (optional note shown on the Workers page).</summary>
public sealed record WorkerActionBody(string? Note);

/// <summary>
/// What the dispatcher knows about reaching one worker (<c>buildfarm probe</c>). <see cref="KeyStatus"/>: <c>trusted</c>,
/// <c>untrusted</c>, <c>unknown</c> (no signed output yet) or <c>not-checked</c> (no trusted worker keys configured).
/// <see cref="Answered"/> is null without a live probe (<c>wait=0</c>), else whether the worker answered in time.
/// <see cref="OriginReachable"/>: the worker's own check (<c>reachable</c>, <c>unreachable</c>, <c>refused</c>,
/// <c>not-asked</c>) or <c>unknown</c> when it did not answer or was not asked. <see cref="ClockSkewSeconds"/> comes
/// from the probe's four timestamps (transit removed) when it answered, else from its last heartbeat (transit included).
/// </summary>
public sealed record WorkerProbeView(
    string Name,
    bool Online,
    string State,
    DateTimeOffset LastSeen,
    double LastHeartbeatAgeSeconds,
    double? ClockSkewSeconds,
    string Version,
    string KeyStatus,
    string KeyDetail,
    string OriginReachable,
    string OriginDetail,
    bool? Answered = null,
    double? RoundTripMs = null);

/// <summary>GET /api/workers/probe: <see cref="Origin"/> is what workers were asked to reach (null: none configured).</summary>
public sealed record ProbeView(DateTimeOffset DispatcherTime, string? TrustedWorkerKeysFile, IReadOnlyList<WorkerProbeView> Workers, double WaitSeconds = 0, string? Origin = null);
