using BuildFarm.Contracts.Builds;

namespace BuildFarm.Worker.Outputs;

/// <summary>
/// Sends a successful build's outputs back to the origin store. The SSH return arrives in the next issue; until then
/// <see cref="KeepLocalUploader"/> leaves them in the worker's store. BuildSucceeded is published only after this
/// returns, so "succeeded" will mean "outputs are safely at the origin" once a real uploader is plugged in.
/// </summary>
internal interface IOutputUploader
{
    Task UploadAsync(BuildDerivation request, IReadOnlyList<BuiltOutput> outputs, CancellationToken cancellationToken);
}

/// <summary>Leaves outputs in the worker's store (no transfer yet).</summary>
internal sealed class KeepLocalUploader : IOutputUploader
{
    public Task UploadAsync(BuildDerivation request, IReadOnlyList<BuiltOutput> outputs, CancellationToken cancellationToken) => Task.CompletedTask;
}
