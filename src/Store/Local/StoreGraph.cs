using BuildFarm.Store.Paths;

namespace BuildFarm.Store.Local;

/// <summary>Walks the reference graph of a store, whichever database answers the references.</summary>
internal static class StoreGraph
{
    /// <summary>
    /// Orders paths so that every path comes after the paths it references (among those given); ties are broken by
    /// path so the order is deterministic. A cycle (other than a self-reference) is an error.
    /// </summary>
    public static async Task<IReadOnlyList<StorePath>> SortTopologicallyAsync(
        IEnumerable<StorePath> paths, Func<StorePath, CancellationToken, Task<IReadOnlyList<StorePath>>> referencesOf, CancellationToken cancellationToken)
    {
        var set = paths.ToHashSet();
        var references = new Dictionary<StorePath, IReadOnlyList<StorePath>>();
        foreach (var path in set)
            references[path] = await referencesOf(path, cancellationToken);
        var result = new List<StorePath>();
        var state = new Dictionary<StorePath, bool>();
        foreach (var path in set.Order(StorePath.Ordinal))
            Visit(path);
        return result;

        void Visit(StorePath path)
        {
            if (state.TryGetValue(path, out var done))
            {
                if (!done)
                    throw new StoreException($"reference cycle through '{path}'");
                return;
            }

            state[path] = false;
            foreach (var reference in references[path])
            {
                if (reference != path && set.Contains(reference))
                    Visit(reference);
            }

            state[path] = true;
            result.Add(path);
        }
    }
}
