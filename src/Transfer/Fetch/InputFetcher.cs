using BuildFarm.Transfer.Origins;

namespace BuildFarm.Transfer.Fetch;

/// <summary>
/// Fetches missing store paths from the origin for builds: one remote export per batch of paths, and concurrent
/// builds that ask for the same path share one fetch. Returns when every requested path has been imported.
/// </summary>
/// <param name="fetchBatch">
/// Fetches and imports a batch of paths, returning the paths it imported (normally <see cref="ForOrigin"/>'s: one
/// <c>buildfarm store export --signed PATHS…</c> on the origin, its stdout streamed into an <see cref="IArchiveSink"/>).
/// </param>
public sealed class InputFetcher(Func<IReadOnlyList<string>, CancellationToken, Task<IReadOnlyList<string>>> fetchBatch) : IDisposable
{
    private readonly SingleFlight<string, bool> _flights = new(StringComparer.Ordinal);

    /// <summary>Batches actually fetched (remote commands run).</summary>
    public long BatchesFetched => _flights.Flights;

    /// <summary>An input fetcher that exports from <paramref name="origin"/> and imports into <paramref name="sink"/>.</summary>
    public static InputFetcher ForOrigin(OriginClient origin, IArchiveSink sink) =>
        new((paths, ct) => origin.DownloadAsync(
            origin.BuildfarmCommand(["store", "export", "--signed", .. paths]),
            sink.ImportAsync,
            ct));

    /// <summary>
    /// Ensures every path in <paramref name="missingPaths"/> is fetched. Throws <see cref="MissingInputException"/> if
    /// the origin's archive lacked some of them, and whatever the transfer threw otherwise (typically
    /// <see cref="Errors.TransferInfrastructureException"/>).
    /// </summary>
    public async Task FetchAsync(IReadOnlyCollection<string> missingPaths, CancellationToken cancellationToken)
    {
        if (missingPaths.Count == 0)
            return;
        var results = await _flights.RunBatchAsync(missingPaths, FetchClaimedAsync, cancellationToken);
        var missing = results.Where(r => !r.Value).Select(r => r.Key).ToList();
        if (missing.Count > 0)
            throw new MissingInputException(missing);
    }

    public void Dispose() => _flights.Dispose();

    private async Task<IReadOnlyDictionary<string, bool>> FetchClaimedAsync(IReadOnlyList<string> paths, CancellationToken cancellationToken)
    {
        var imported = (await fetchBatch(paths, cancellationToken)).ToHashSet(StringComparer.Ordinal);
        return paths.ToDictionary(p => p, imported.Contains, StringComparer.Ordinal);
    }
}
