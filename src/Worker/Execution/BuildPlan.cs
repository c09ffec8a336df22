using BuildFarm.Contracts.Builds;
using BuildFarm.Worker.Derivations;

namespace BuildFarm.Worker.Execution;

/// <summary>
/// One attempt, ready to run: the parsed derivation and where its outputs go on this machine
/// (OutputPhysicalPaths: output id → the file the builder must create; the logical path when the store has no root).
/// </summary>
internal sealed record BuildPlan(
    Guid BuildId,
    int Attempt,
    string DrvPath,
    string StoreDir,
    BuildRecipe Recipe,
    IReadOnlyDictionary<string, string> OutputPhysicalPaths,
    BuildLimits Limits)
{
    /// <summary>
    /// The worker store's facts of the input closure (path → references, NAR hash and size), filled in before the
    /// builder runs when the derivation uses <c>exportReferencesGraph</c>; empty otherwise.
    /// </summary>
    public IReadOnlyDictionary<string, PathFacts> InputFacts { get; init; } = new Dictionary<string, PathFacts>();

    /// <summary>The input closure's logical paths: all a sandboxed builder sees of the store besides its outputs.</summary>
    public IReadOnlyList<string> InputPaths { get; init; } = [];

    /// <summary>The derivation's <c>requiredSystemFeatures</c> (a build requiring <c>kvm</c> gets <c>/dev/kvm</c>).</summary>
    public IReadOnlyList<string> RequiredFeatures { get; init; } = [];
}

/// <summary>How running the builder ended.</summary>
internal enum ExecutionOutcome
{
    Succeeded,
    Failed,
    TimedOut,
    Cancelled,
    Infrastructure,
}

internal sealed record ExecutionResult(ExecutionOutcome Outcome, int? ExitCode, string Reason);

/// <summary>
/// Runs a builder: <see cref="BuilderExecutor"/> (sandboxed or not), chosen by <see cref="ExecutorSelection"/> in
/// <c>AddWorker()</c>. Implementations must kill every process of the build when the cancellation token fires.
/// </summary>
internal interface IBuildExecutor
{
    Task<ExecutionResult> RunAsync(BuildPlan plan, IBuildLog log, CancellationToken cancellationToken);
}

/// <summary>Where the builder's output lines go (bounded and batched by the implementation).</summary>
internal interface IBuildLog
{
    void Line(string text);
}
