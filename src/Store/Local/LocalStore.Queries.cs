using BuildFarm.Store.Paths;

namespace BuildFarm.Store.Local;

public sealed partial class LocalStore
{
    public async Task<bool> IsValidAsync(StorePath path, CancellationToken cancellationToken)
    {
        await using var connection = await _db.OpenAsync(cancellationToken);
        return await StoreDatabase.PathIdAsync(connection, null, path, cancellationToken) is not null;
    }

    /// <summary>The path's row, or null when it is not valid.</summary>
    public async Task<ValidPathInfo?> QueryPathInfoAsync(StorePath path, CancellationToken cancellationToken)
    {
        await using var connection = await _db.OpenAsync(cancellationToken);
        return await _db.QueryAsync(connection, null, path, cancellationToken);
    }

    /// <summary>Like <see cref="QueryPathInfoAsync"/> but a path that is not valid is an error.</summary>
    public async Task<ValidPathInfo> GetPathInfoAsync(StorePath path, CancellationToken cancellationToken) =>
        await QueryPathInfoAsync(path, cancellationToken) ?? throw new StoreException($"path '{path}' is not valid in the store at {Layout.PhysicalStoreDir}");

    public async Task<IReadOnlyList<StorePath>> QueryReferencesAsync(StorePath path, CancellationToken cancellationToken) =>
        (await GetPathInfoAsync(path, cancellationToken)).References;

    /// <summary>Valid paths that reference <paramref name="path"/> (including itself when self-referencing), sorted.</summary>
    public async Task<IReadOnlyList<StorePath>> QueryReferrersAsync(StorePath path, CancellationToken cancellationToken)
    {
        await using var connection = await _db.OpenAsync(cancellationToken);
        return await _db.ReferrersAsync(connection, null, path, cancellationToken);
    }

    /// <summary>Every path reachable from <paramref name="roots"/>, roots included, with its metadata, sorted by path; a root that is not valid is an error.</summary>
    public async Task<IReadOnlyList<ValidPathInfo>> QueryClosureInfoAsync(IEnumerable<StorePath> roots, CancellationToken cancellationToken)
    {
        var wanted = roots.Distinct().ToList();
        if (wanted.Count == 0)
            return [];
        await using var connection = await _db.OpenAsync(cancellationToken);
        await using var transaction = connection.BeginTransaction(deferred: true);
        var closure = await _db.ClosureAsync(connection, transaction, wanted, cancellationToken);
        if (ClosureSql.MissingRoot(wanted, closure) is { } missing)
            throw new StoreException($"path '{missing}' is not valid in the store at {Layout.PhysicalStoreDir}");
        return closure;
    }
}
