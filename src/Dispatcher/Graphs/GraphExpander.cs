using BuildFarm.Dispatcher.Origin;
using BuildFarm.Store.Derivations;
using BuildFarm.Store.Paths;

namespace BuildFarm.Dispatcher.Graphs;

/// <summary>A node of a new graph: the derivation, which outputs are wanted, what it needs, and whether it can be skipped.</summary>
internal sealed record NewNode(string DrvPath, IReadOnlyList<string> WantedOutputs, IReadOnlyList<string> Dependencies, IReadOnlyDictionary<string, string> OutputPaths, bool Skipped, bool IsTarget);

/// <summary>
/// Expands targets into the graph to build: every derivation reachable through input derivations, the outputs its
/// dependents use (all outputs for a target), skipping derivations whose wanted outputs are all valid in the origin
/// store (and not descending below them: their inputs are not needed).
/// </summary>
internal sealed class GraphExpander(OriginStore origin)
{
    /// <summary>A target as given: a logical <c>.drv</c> path or its physical path under the origin's root.</summary>
    public (StorePath? Path, string? Error) ResolveTarget(string text)
    {
        var layout = origin.Layout;
        var logical = text.StartsWith(layout.PhysicalStoreDir + "/", StringComparison.Ordinal) && layout.Root.Length > 0
            ? layout.StoreDir.Path + text[layout.PhysicalStoreDir.Length..]
            : text;
        if (!StorePath.TryParse(layout.StoreDir, logical, out var path, out var error))
            return (null, $"target '{text}': {error} (give a .drv path of store {layout.StoreDir.Path}, or its file under {layout.PhysicalStoreDir})");
        return path!.IsDerivation ? (path, null) : (null, $"target '{text}' is not a derivation (.drv)");
    }

    public async Task<(IReadOnlyList<NewNode>? Nodes, string? Error)> ExpandAsync(IReadOnlyList<StorePath> targets, CancellationToken cancellationToken)
    {
        var drvs = new Dictionary<StorePath, Derivation>();
        var wanted = new Dictionary<StorePath, SortedSet<string>>();
        var pending = new Stack<StorePath>();
        foreach (var t in targets)
        {
            var (drv, _, error) = await origin.ReadDerivationAsync(t, cancellationToken);
            if (drv is null)
                return (null, error);
            drvs[t] = drv;
            wanted[t] = new SortedSet<string>(drv.Outputs.Keys, StringComparer.Ordinal);
            pending.Push(t);
        }

        // Every reachable derivation with the union of the outputs its dependents use.
        var visited = new HashSet<StorePath>();
        while (pending.TryPop(out var current))
        {
            if (!visited.Add(current))
                continue;
            foreach (var (input, outputs) in drvs[current].InputDrvs)
            {
                if (!drvs.ContainsKey(input))
                {
                    var (drv, _, error) = await origin.ReadDerivationAsync(input, cancellationToken);
                    if (drv is null)
                        return (null, $"{error} (an input of {current})");
                    drvs[input] = drv;
                }

                if (!wanted.TryGetValue(input, out var set))
                    wanted[input] = set = new SortedSet<string>(StringComparer.Ordinal);
                set.UnionWith(outputs);
                pending.Push(input);
            }
        }

        // From the targets down, stopping at derivations whose wanted outputs are already valid.
        var nodes = new List<NewNode>();
        var included = new HashSet<StorePath>();
        var walk = new Stack<StorePath>(targets);
        var targetSet = targets.ToHashSet();
        while (walk.TryPop(out var current))
        {
            if (!included.Add(current))
                continue;
            var drv = drvs[current];
            var skipped = await origin.OutputsValidAsync(drv, wanted[current], cancellationToken);
            var paths = drv.OutputPaths.ToDictionary(p => p.Key, p => p.Value.FullPath, StringComparer.Ordinal);
            nodes.Add(new NewNode(current.FullPath, [.. wanted[current]], skipped ? [] : [.. drv.InputDrvs.Keys.Select(k => k.FullPath)], paths, skipped, targetSet.Contains(current)));
            if (!skipped)
            {
                foreach (var input in drv.InputDrvs.Keys)
                    walk.Push(input);
            }
        }

        return (nodes, null);
    }
}
