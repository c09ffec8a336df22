using BuildFarm.Contracts.Builds;
using BuildFarm.Worker.Derivations;
using BuildFarm.Worker.Execution;

namespace BuildFarm.Worker.Outputs;

/// <summary>Turns the files a builder produced into registered, signed <see cref="BuiltOutput"/> entries.</summary>
internal interface IOutputRegistrar
{
    /// <summary>
    /// Called before the builder runs: locks the outputs against concurrent adds and start-up cleanup until the
    /// returned handle is disposed (after <see cref="RegisterAsync"/>). Returns the already valid outputs when
    /// every wanted one is valid (nothing to build), else null.
    /// </summary>
    Task<(IDisposable Lock, IReadOnlyList<BuiltOutput>? AlreadyValid)> PrepareAsync(BuildPlan plan, IReadOnlyList<string> wantedOutputs, CancellationToken cancellationToken);

    /// <summary>
    /// References, NAR hash and size of each given path valid in the worker's store (for exportReferencesGraph and output checks);
    /// paths the store does not hold are left out.
    /// </summary>
    Task<IReadOnlyDictionary<string, PathFacts>> QueryFactsAsync(IEnumerable<string> paths, CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyDictionary<string, PathFacts>>(new Dictionary<string, PathFacts>());

    /// <param name="plan">The attempt whose builder exited 0 and produced every wanted output.</param>
    /// <param name="wantedOutputs">Output ids to register.</param>
    /// <param name="referenceCandidates">Store paths the outputs may reference (input closure, sibling outputs).</param>
    /// <param name="cancellationToken">Abort.</param>
    Task<IReadOnlyList<BuiltOutput>> RegisterAsync(BuildPlan plan, IReadOnlyList<string> wantedOutputs, IReadOnlyList<string> referenceCandidates, CancellationToken cancellationToken);
}
