using BuildFarm.Store.Paths;

namespace BuildFarm.Store.Local;

/// <summary>
/// A store on this machine's disk that archives are exported from and imported into: BuildFarm's own
/// <see cref="LocalStore"/> (its SQLite under <c>var/buildfarm</c>) or the machine's Nix store
/// (<see cref="NixDb.NixStore"/>: Nix's own database, read-only, and <c>nix-store --register-validity</c>).
/// </summary>
public interface IStore
{
    StoreLayout Layout { get; }

    StoreDirectory StoreDir { get; }

    /// <summary>Parses a full logical path (e.g. <c>/nix/store/abc…-x</c>) of this store.</summary>
    StorePath ParsePath(string text);

    string PhysicalPath(StorePath path);

    Task<bool> IsValidAsync(StorePath path, CancellationToken cancellationToken);

    /// <summary>The path's metadata, or null when it is not valid.</summary>
    Task<ValidPathInfo?> QueryPathInfoAsync(StorePath path, CancellationToken cancellationToken);

    /// <summary>Like <see cref="QueryPathInfoAsync"/> but a path that is not valid is an error.</summary>
    Task<ValidPathInfo> GetPathInfoAsync(StorePath path, CancellationToken cancellationToken);

    /// <summary>
    /// Every path reachable from <paramref name="roots"/> by references, roots included, with its metadata, sorted by
    /// path; a root that is not valid is an error. One walk of the database (a recursive query, a few statements), not
    /// one <see cref="GetPathInfoAsync"/> per path; the paths alone: <see cref="StoreClosure.QueryClosureAsync"/>.
    /// </summary>
    Task<IReadOnlyList<ValidPathInfo>> QueryClosureInfoAsync(IEnumerable<StorePath> roots, CancellationToken cancellationToken);

    /// <summary>A fresh temporary entry in the physical store directory to restore content into.</summary>
    StagedPath CreateStagedPath();

    /// <summary>Makes staged, already verified content valid, all or nothing (see each store for how).</summary>
    /// <returns>The paths of the batch, in batch order.</returns>
    Task<IReadOnlyList<StorePath>> CommitStagedAsync(IReadOnlyList<StagedEntry> entries, CancellationToken cancellationToken);

    /// <summary>Deletes a valid path that no other valid path references.</summary>
    Task DeleteAsync(StorePath path, CancellationToken cancellationToken);
}
