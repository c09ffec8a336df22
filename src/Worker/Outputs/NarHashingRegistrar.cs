using BuildFarm.Contracts.Builds;
using BuildFarm.Store.Nar;
using BuildFarm.Store.Paths;
using BuildFarm.Store.Signing;
using BuildFarm.Worker.Execution;
using BuildFarm.Worker.Keys;

namespace BuildFarm.Worker.Outputs;

/// <summary>
/// Hashes each output's NAR and signs its narinfo fingerprint with the worker's key. Used until the worker's
/// LocalStore (RegisterOutputAsync: database row + reference scanning) is on main; until then references are
/// reported empty because they are not scanned.
/// </summary>
internal sealed class NarHashingRegistrar(WorkerKeys keys) : IOutputRegistrar
{
    public async Task<IReadOnlyList<BuiltOutput>> RegisterAsync(BuildPlan plan, IReadOnlyList<string> wantedOutputs, CancellationToken cancellationToken)
    {
        var storeDir = new StoreDirectory(plan.StoreDir);
        var outputs = new List<BuiltOutput>();
        foreach (var id in wantedOutputs)
        {
            var logical = StorePath.Parse(storeDir, plan.Recipe.Outputs[id]);
            var (narHash, narSize) = await NarHasher.HashPathAsync(plan.OutputPhysicalPaths[id], cancellationToken);
            var fingerprint = NarInfoFingerprint.Compute(logical, narHash, narSize, []);
            outputs.Add(new BuiltOutput(id, logical.FullPath, narHash.ToString(), narSize, [], [keys.SigningKey.Sign(fingerprint)]));
        }

        return outputs;
    }
}
