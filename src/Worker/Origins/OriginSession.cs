using System.Diagnostics;
using BuildFarm.Store.Archives;
using BuildFarm.Store.Hashing;
using BuildFarm.Store.Signing;
using BuildFarm.Transfer.Fetch;
using BuildFarm.Transfer.Origins;
using BuildFarm.Worker.Storage;
using Serilog;

namespace BuildFarm.Worker.Origins;

/// <summary>
/// Everything the worker shares per origin across builds and slots: the pooled SSH client (with its Polly retry and
/// circuit breaker) and the input fetcher, whose single-flight makes concurrent builds needing the same path fetch it
/// once. Fetch keys are "path NAR-hash" so that a build is only ever served the hash its own request vouches for.
/// </summary>
internal sealed class OriginSession : IAsyncDisposable
{
    private readonly WorkerStore _store;
    private readonly TrustedKeysFile _trusted;
    private readonly ILogger _log;
    private long _bytesFetched;

    public OriginSession(OriginClient client, WorkerStore store, TrustedKeysFile trusted, QuarantineServePool.Settings uploads, ILogger logger)
    {
        Client = client;
        _store = store;
        _trusted = trusted;
        _log = logger.ForContext<OriginSession>();
        Fetcher = new InputFetcher(FetchBatchAsync);
        Uploads = new QuarantineServePool(client, uploads);
    }

    public OriginClient Client { get; }

    public InputFetcher Fetcher { get; }

    /// <summary>Long-lived quarantine-serve processes that carry returned outputs.</summary>
    public QuarantineServePool Uploads { get; }

    public string Name => Client.Settings.Name;

    /// <summary>Archive bytes received from this origin so far.</summary>
    public long BytesFetched => Interlocked.Read(ref _bytesFetched);

    public static string Key(string path, string narHash) => path + " " + narHash;

    public async ValueTask DisposeAsync()
    {
        Fetcher.Dispose();
        await Uploads.DisposeAsync();
        await Client.DisposeAsync();
    }

    /// <summary>
    /// One <c>store export --signed PATHS…</c> on the origin, imported all or nothing into the worker's store with the
    /// trusted input keys and the expected NAR hashes. Retried whole by the client on transient failures (the import
    /// is all or nothing, so a cut stream leaves nothing behind and a retry starts clean).
    /// </summary>
    private async Task<IReadOnlyList<string>> FetchBatchAsync(IReadOnlyList<string> keys, CancellationToken cancellationToken)
    {
        var expected = new Dictionary<string, NixHash>(StringComparer.Ordinal);
        var keyOf = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var key in keys)
        {
            var space = key.IndexOf(' ', StringComparison.Ordinal);
            var path = key[..space];
            expected[path] = NixHash.Parse(key[(space + 1)..]);
            keyOf[path] = key;
        }

        var store = await _store.GetAsync(cancellationToken);
        var clock = Stopwatch.StartNew();
        long bytes = 0;
        var command = Client.BuildfarmCommand(["store", "export", "--signed", .. expected.Keys]);
        var imported = await Client.DownloadAsync(
            command,
            async (stdout, ct) =>
            {
                var counting = new CountingReadStream(stdout);
                try
                {
                    return await ArchiveImporter.ImportAsync(store, counting, new ImportOptions(_trusted.Current(), true, expected, StallTimeout: ImportOptions.DefaultStallTimeout), ct);
                }
                finally
                {
                    Interlocked.Add(ref _bytesFetched, counting.Count);
                    bytes = counting.Count;
                }
            },
            cancellationToken);
        _log.Information(
            "Fetched {PathCount} input paths ({Bytes} bytes) from origin {Origin} in {Elapsed}: {Paths}",
            imported.Count, bytes, Name, clock.Elapsed, imported.Select(p => p.FullPath).ToArray());
        return [.. imported.Select(p => keyOf.GetValueOrDefault(p.FullPath)).OfType<string>()];
    }
}
