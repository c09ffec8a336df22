namespace BuildFarm.Dispatcher.Api;

/// <summary>POST /api/builds/{id}/retry answer: the new build of the same derivation.</summary>
public sealed record RetryResponse(Guid Id, Guid RetryOf, string State, string? WaitingReason);

/// <summary>One step of a build's timeline; <see cref="Open"/> while it is still going on.</summary>
public sealed record PhaseView(string Name, string? Worker, DateTimeOffset? Start, double Seconds, bool Open);

/// <summary>GET /api/builds/{id}/phases: queue wait, then per attempt its phases as the worker reported them (when it did).</summary>
public sealed record PhasesView(Guid Id, IReadOnlyList<PhaseView> Phases);

/// <summary>Builds finished in one bucket of the throughput chart.</summary>
public sealed record ThroughputPoint(DateTimeOffset At, int Succeeded, int Failed, int Cancelled);

/// <summary>GET /api/stats/throughput: builds finished per minute over the last <see cref="Minutes"/> minutes, oldest first.</summary>
public sealed record ThroughputView(DateTimeOffset From, int Minutes, IReadOnlyList<ThroughputPoint> Points);

/// <summary>How many builds were waiting in a queue and how many were running at the end of one minute.</summary>
public sealed record BacklogPoint(DateTimeOffset At, int Queued, int Running);

/// <summary>GET /api/stats/backlog: queued and running builds at the end of each minute, oldest first.</summary>
public sealed record BacklogView(DateTimeOffset From, int Minutes, IReadOnlyList<BacklogPoint> Points);

/// <summary>A class's arrival (submitted) and departure (finished) rates over the window.</summary>
public sealed record ClassRateView(string Key, double InPerMinute, double OutPerMinute, int Submitted, int Finished);

/// <summary>GET /api/stats/classes.</summary>
public sealed record ClassRatesView(int WindowMinutes, IReadOnlyList<ClassRateView> Classes);

/// <summary>Something an operator should look at: <c>no-capable-worker</c>, <c>worker-silent</c>, <c>worker-failing</c>.</summary>
public sealed record AlertView(string Kind, string Severity, string Subject, string Message);

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
