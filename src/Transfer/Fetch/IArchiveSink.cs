namespace BuildFarm.Transfer.Fetch;

/// <summary>
/// Where fetched archives go: the worker plugs in the local store's importer (verify signatures, add paths).
/// <see cref="ImportAsync"/> may be called again with a fresh stream after a transport failure, so importing must
/// skip paths that are already valid.
/// </summary>
public interface IArchiveSink
{
    /// <summary>Imports every path in <paramref name="archive"/> (a signed export stream); returns the store paths imported.</summary>
    Task<IReadOnlyList<string>> ImportAsync(Stream archive, CancellationToken cancellationToken);
}
