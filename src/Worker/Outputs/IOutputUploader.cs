using BuildFarm.Contracts.Builds;

namespace BuildFarm.Worker.Outputs;

/// <summary>
/// Sends a successful build's outputs back to the origin store (<see cref="Origins.OriginOutputUploader"/> over SSH;
/// requests without an origin keep them in the worker's store). BuildSucceeded is published only after this returns,
/// so "succeeded" means "outputs are safely at the origin".
/// </summary>
internal interface IOutputUploader
{
    Task UploadAsync(BuildDerivation request, IReadOnlyList<BuiltOutput> outputs, CancellationToken cancellationToken);
}

/// <summary>Leaves outputs in the worker's store (for hosts that never return outputs, e.g. tests).</summary>
internal sealed class KeepLocalUploader : IOutputUploader
{
    public Task UploadAsync(BuildDerivation request, IReadOnlyList<BuiltOutput> outputs, CancellationToken cancellationToken) => Task.CompletedTask;
}
