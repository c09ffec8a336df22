using BuildFarm.Store.Paths;

namespace BuildFarm.Store.Local;

/// <summary>Closures of either store, from <see cref="IStore.QueryClosureInfoAsync"/>.</summary>
public static class StoreClosure
{
    /// <summary>Every path reachable from <paramref name="roots"/> by references, roots included, sorted; a root that is not valid is an error.</summary>
    public static async Task<IReadOnlyList<StorePath>> QueryClosureAsync(this IStore store, IEnumerable<StorePath> roots, CancellationToken cancellationToken) =>
        [.. (await store.QueryClosureInfoAsync(roots, cancellationToken)).Select(i => i.Path)];
}
