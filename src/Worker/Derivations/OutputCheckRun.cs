using BuildFarm.Store.Local;
using BuildFarm.Store.Paths;
using BuildFarm.Worker.Execution;

namespace BuildFarm.Worker.Derivations;

/// <summary>
/// Runs <see cref="OutputChecks"/> and, for fixed outputs, <see cref="FixedOutputCheck"/> on the outputs a builder
/// produced, before any of them is registered (as Nix does): a refused output never becomes valid, so it is never
/// signed or served.
/// </summary>
internal static class OutputCheckRun
{
    /// <summary>Null when the outputs pass (or declare no check), else Nix's error message.</summary>
    public static async Task<string?> CheckAsync(
        BuildPlan plan, IReadOnlyList<string> builtOutputs, IReadOnlyList<string> inputClosure,
        Func<IEnumerable<string>, CancellationToken, Task<IReadOnlyDictionary<string, PathFacts>>> queryFacts,
        CancellationToken cancellationToken)
    {
        // Outputs referring to each other in a cycle are refused as Nix refuses them (registerOutputs' topoSort).
        var fixedOutputs = FixedOutputCheck.Declared(plan.Recipe, builtOutputs);
        if (!OutputChecks.AreDeclared(plan.Recipe.Env) && plan.Recipe.Outputs.Count < 2 && fixedOutputs.Count == 0)
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

        if (Cycle(plan, outputs) is { } cycle)
            return cycle;

        // Nix's order: a flat output's kind while it registers each output, then checkOutputs, then (delayed until
        // after that) the fixed output's hash mismatch.
        foreach (var (id, wanted) in fixedOutputs.OrderBy(f => f.Key, StringComparer.Ordinal))
        {
            if (FixedOutputCheck.CheckKind(wanted, plan.Recipe.Outputs[id], plan.OutputPhysicalPaths[id]) is { } kind)
                return kind;
        }

        if (OutputChecks.AreDeclared(plan.Recipe.Env))
        {
            var store = await queryFacts(inputClosure, cancellationToken);
            if (OutputChecks.Check(plan.DrvPath, plan.StoreDir, plan.Recipe.Env, outputs, store) is { } refused)
                return refused;
        }

        foreach (var (id, wanted) in fixedOutputs.OrderBy(f => f.Key, StringComparer.Ordinal))
        {
            if (await FixedOutputCheck.CheckContentAsync(plan.DrvPath, wanted, outputs[id], plan.OutputPhysicalPaths[id], cancellationToken) is { } mismatch)
                return mismatch;
        }

        return null;
    }

    /// <summary>Nix's <c>topoSort</c> over output ids (visited in sorted order), with its cycle message.</summary>
    private static string? Cycle(BuildPlan plan, IReadOnlyDictionary<string, PathFacts> outputs)
    {
        var idByPath = outputs.ToDictionary(o => o.Value.Path, o => o.Key, StringComparer.Ordinal);
        var visited = new HashSet<string>(StringComparer.Ordinal);
        var parents = new HashSet<string>(StringComparer.Ordinal);
        string? Visit(string id, string? parent)
        {
            if (parents.Contains(id))
                return $"cycle detected in build of '{plan.DrvPath}' in the references of output '{id}' from output '{parent}'";
            if (!visited.Add(id))
                return null;
            parents.Add(id);
            var children = outputs[id].References.Where(idByPath.ContainsKey).Select(r => idByPath[r]).Order(StringComparer.Ordinal);
            foreach (var child in children)
            {
                if (child != id && Visit(child, id) is { } error)
                    return error;
            }

            parents.Remove(id);
            return null;
        }

        foreach (var id in outputs.Keys.Order(StringComparer.Ordinal))
        {
            if (Visit(id, null) is { } error)
                return error;
        }

        return null;
    }
}
