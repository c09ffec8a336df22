using BuildFarm.Store.Local;
using BuildFarm.Store.Paths;
using BuildFarm.Worker.Execution;

namespace BuildFarm.Worker.Derivations;

/// <summary>
/// Runs <see cref="OutputChecks"/> on the outputs a builder produced, before any of them is registered (as Nix
/// does): a refused output never becomes valid, so it is never signed or served.
/// </summary>
internal static class OutputCheckRun
{
    /// <summary>Null when the outputs pass (or declare no check), else Nix's error message.</summary>
    public static async Task<string?> CheckAsync(
        BuildPlan plan, IReadOnlyList<string> builtOutputs, IReadOnlyList<string> inputClosure,
        Func<IEnumerable<string>, CancellationToken, Task<IReadOnlyDictionary<string, PathFacts>>> queryFacts,
        CancellationToken cancellationToken)
    {
        if (!OutputChecks.AreDeclared(plan.Recipe.Env))
            return null;
        var storeDir = new StoreDirectory(plan.StoreDir);
        var candidates = inputClosure.Concat(plan.Recipe.Outputs.Values)
            .Select(p => StorePath.TryParse(storeDir, p, out var sp, out _) ? sp : null)
            .OfType<StorePath>().ToList();
        var outputs = new Dictionary<string, PathFacts>(StringComparer.Ordinal);
        foreach (var id in builtOutputs)
        {
            var (hash, size, references) = await OutputScan.ScanAsync(plan.OutputPhysicalPaths[id], candidates, cancellationToken);
            outputs[id] = new PathFacts(plan.Recipe.Outputs[id], hash.ToString(), size, [.. references.Select(r => r.FullPath)]);
        }

        var store = await queryFacts(inputClosure, cancellationToken);
        return OutputChecks.Check(plan.DrvPath, plan.StoreDir, plan.Recipe.Env, outputs, store);
    }
}
