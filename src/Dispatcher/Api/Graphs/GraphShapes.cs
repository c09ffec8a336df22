namespace BuildFarm.Dispatcher.Api;

/// <summary>
/// POST /api/graphs body: build <see cref="Targets"/> (.drv paths of the origin store, logical or physical) and what
/// they need. <see cref="Trusted"/> marks every build of the graph trusted (it may run on a worker without a sandbox).
/// </summary>
public sealed record SubmitGraphBody(
    IReadOnlyList<string> Targets,
    bool KeepGoing = false,
    int Priority = 0,
    double TimeoutSeconds = 0,
    double MaxSilentSeconds = 0,
    bool WaitForCapacity = false,
    bool Trusted = false);

/// <summary>POST /api/graphs answer (202): the graph's id; follow it at GET /api/graphs/{id}.</summary>
public sealed record SubmitGraphResponse(Guid Id, string State, GraphCounts Counts);

/// <summary>How many nodes are in each state. <see cref="Queued"/> and <see cref="Running"/> split the submitted nodes by their build.</summary>
public sealed record GraphCounts(int Total, int Skipped, int Waiting, int Queued, int Running, int Succeeded, int Failed, int DependencyFailed, int Stopped);

/// <summary>One derivation of a graph.</summary>
/// <param name="DrvPath">The .drv store path.</param>
/// <param name="State">skipped | waiting | queued | running | succeeded | failed | dependency-failed | stopped.</param>
/// <param name="IsTarget">True for a derivation the client asked for.</param>
/// <param name="BuildId">Its build (GET /api/builds/{id}, …/log) once submitted.</param>
/// <param name="Worker">The worker running or having run it.</param>
/// <param name="FailureKind">The build's failure kind (BuildFailure, Timeout, Infrastructure, Rejected) when it failed.</param>
/// <param name="Reason">Why it failed, was skipped or stopped.</param>
/// <param name="Dependencies">Input derivations in this graph.</param>
/// <param name="WantedOutputs">Outputs needed (all for a target).</param>
/// <param name="OutputPaths">Output name → store path.</param>
/// <param name="Level">0 without an input derivation in the graph, else one more than its deepest input's (null in a
/// <c>?since=</c> answer, which does not read the whole graph).</param>
public sealed record GraphNodeView(
    string DrvPath,
    string State,
    bool IsTarget,
    Guid? BuildId,
    string? Worker,
    string? FailureKind,
    string? Reason,
    IReadOnlyList<string> Dependencies,
    IReadOnlyList<string> WantedOutputs,
    IReadOnlyDictionary<string, string> OutputPaths,
    int? Level = null);

/// <summary>
/// GET /api/graphs/{id}: the graph, its counts and every node in dependency order (level, then name), or with
/// <c>?offset=K&amp;limit=N</c> that slice of them (the UI's page of a big graph); with <c>?since=</c> a previous
/// <see cref="Cursor"/>: the nodes changed after it and those submitted, in graph order. <see cref="State"/> is
/// running | succeeded | failed | cancelled.
/// </summary>
public sealed record GraphView(
    Guid Id,
    string State,
    bool KeepGoing,
    IReadOnlyList<string> Targets,
    DateTimeOffset CreatedAt,
    DateTimeOffset? FinishedAt,
    GraphCounts Counts,
    IReadOnlyList<GraphNodeView> Nodes,
    long Cursor = 0);
