namespace BuildFarm.Dispatcher.Graphs;

/// <summary>A row of <c>graphs</c>: one <c>buildfarm build</c> of some targets.</summary>
internal sealed record GraphRecord(
    Guid Id,
    IReadOnlyList<string> Targets,
    bool KeepGoing,
    int Priority,
    TimeSpan Timeout,
    TimeSpan MaxSilentTime,
    bool WaitForCapacity,
    string State,
    DateTimeOffset CreatedAt,
    DateTimeOffset? FinishedAt,
    bool Trusted = false);

/// <summary>A row of <c>graph_nodes</c>: one derivation of a graph.</summary>
internal sealed record GraphNodeRecord(
    Guid GraphId,
    string DrvPath,
    IReadOnlyList<string> Dependencies,
    IReadOnlyList<string> WantedOutputs,
    IReadOnlyDictionary<string, string> OutputPaths,
    bool IsTarget,
    string State,
    Guid? BuildId,
    string? Reason);
