using System.Diagnostics;
using BuildFarm.Contracts.Builds;
using BuildFarm.Store.Hashing;
using BuildFarm.Store.Local;
using BuildFarm.Transfer.Fetch;
using BuildFarm.Worker.Storage;
using Serilog;

namespace BuildFarm.Worker.Origins;

/// <summary>What pulling a request's inputs did.</summary>
/// <param name="Elapsed">Time spent (zero when nothing was missing).</param>
/// <param name="MissingPaths">Closure paths this worker's store lacked and fetched (or joined another build's fetch of).</param>
/// <param name="FetchedBytes">NAR bytes of those paths, as the request's closure gives them (a path two builds waited on counts for both).</param>
internal sealed record InputPullReport(TimeSpan Elapsed, int MissingPaths, long FetchedBytes)
{
    public static InputPullReport Nothing { get; } = new(TimeSpan.Zero, 0, 0);
}

/// <summary>Makes a request's input closure valid in the worker's store before its builder runs.</summary>
internal interface IInputProvider
{
    /// <summary>Throws <see cref="OriginException"/> (reason for an infrastructure failure) when inputs cannot be had.</summary>
    Task<InputPullReport> EnsureInputsAsync(BuildDerivation request, CancellationToken cancellationToken);
}

/// <summary>
/// Step 2 of docs/offload.md: the closure paths this worker's store lacks are fetched from the request's origin in
/// one signed export and imported all or nothing (signatures by <c>Origins:TrustedInputKeysFile</c>, every NAR hash
/// exactly as in the request). A request without an origin is taken as is (its inputs must already be local).
/// </summary>
internal sealed class InputPuller(OriginRegistry origins, WorkerStore workerStore, StoreCache cache, ILogger logger) : IInputProvider
{
    private readonly ILogger _log = logger.ForContext<InputPuller>();

    public async Task<InputPullReport> EnsureInputsAsync(BuildDerivation request, CancellationToken cancellationToken)
    {
        if (request.Origin is null)
            return InputPullReport.Nothing;
        var clock = Stopwatch.StartNew();
        var session = origins.Resolve(request.Origin);
        var store = await workerStore.GetAsync(cancellationToken);
        var missing = await MissingAsync(store, request, cancellationToken);
        if (missing.Count == 0)
        {
            _log.Debug("Every input of {DrvPath} is already in this worker's store", request.DrvPath);
            await TouchAsync(store, request, cancellationToken);
            return new InputPullReport(clock.Elapsed, 0, 0);
        }

        // The closure is pinned by the attempt (AttemptRunner), so making room never evicts what this build needs.
        var incoming = missing.Sum(i => i.NarSize);
        var lacking = await cache.EnsureSpaceAsync(incoming, $"fetching inputs of {request.DrvPath}", cancellationToken);
        if (lacking > 0)
            throw new OriginException($"this worker's store has no room for {incoming} bytes of inputs: {lacking} bytes short after evicting every path no running build needs (Store:MaxSizeBytes, Store:MinFreeBytes)");

        try
        {
            await Execution.PhaseHold.AtAsync("fetch", request.DrvPath, cancellationToken);
            await session.Fetcher.FetchAsync([.. missing.Select(i => OriginSession.Key(i.Path, i.NarHash))], cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (MissingInputException e)
        {
            throw new OriginException($"origin {session.Name} did not send input path(s) {string.Join(", ", e.Paths.Select(k => k.Split(' ')[0]))}", e) { Permanent = true };
        }
        catch (Exception e) when (e is not OriginException)
        {
            var permanent = Permanently(e);
            throw new OriginException($"fetching {missing.Count} input path(s) from origin {session.Name} failed: {(permanent ?? e).Message}", e) { Permanent = permanent is not null };
        }

        // A concurrent build may have imported the same path under another hash claim: check ours held.
        var still = await MissingAsync(store, request, cancellationToken);
        if (still.Count > 0)
            throw new OriginException($"input path(s) {string.Join(", ", still.Select(i => i.Path))} are still missing after fetching from origin {session.Name}");
        var bytes = missing.Sum(i => i.NarSize);
        await TouchAsync(store, request, cancellationToken);
        _log.Information(
            "Pulled {MissingCount} missing input paths ({NarBytes} NAR bytes) of {DrvPath} from origin {Origin} in {InputFetchTime}",
            missing.Count, bytes, request.DrvPath, session.Name, clock.Elapsed);
        return new InputPullReport(clock.Elapsed, missing.Count, bytes);
    }

    /// <summary>
    /// The refusal in <paramref name="e"/>'s chain that no retry can fix: an input no trusted key signed, or one the
    /// origin does not have (its export exits <see cref="MissingInputException.OriginExitCode"/>); null otherwise.
    /// </summary>
    private static Exception? Permanently(Exception e)
    {
        for (Exception? x = e; x is not null; x = x.InnerException)
        {
            if (x is Store.Archives.ArchiveException { Untrusted: true })
                return x;
            if (x is Transfer.Errors.RemoteCommandFailedException { Exit.ExitCode: MissingInputException.OriginExitCode } missing)
                return new OriginException("the origin does not have every input: " + missing.Exit.Stderr.Trim());
        }

        return null;
    }

    /// <summary>Marks the request's whole input closure as used now (the cache evicts least recently used paths first).</summary>
    private static Task TouchAsync(LocalStore store, BuildDerivation request, CancellationToken cancellationToken) =>
        store.TouchAsync(request.InputClosure.Select(i => store.ParsePath(i.Path)), cancellationToken);

    /// <summary>Closure entries not valid here; a valid path whose hash differs from the request's is refused.</summary>
    private static async Task<List<InputPath>> MissingAsync(LocalStore store, BuildDerivation request, CancellationToken cancellationToken)
    {
        var missing = new List<InputPath>();
        foreach (var input in request.InputClosure.DistinctBy(i => i.Path, StringComparer.Ordinal))
        {
            if (!NixHash.TryParse(input.NarHash, out var wanted))
                throw new OriginException($"the request's input closure gives '{input.Path}' a malformed NAR hash '{input.NarHash}'");
            Store.Paths.StorePath path;
            try
            {
                path = store.ParsePath(input.Path);
            }
            catch (Exception e) when (e is FormatException or ArgumentException or StoreException)
            {
                throw new OriginException($"the request's input closure has an invalid store path '{input.Path}': {e.Message}", e);
            }

            if (await store.QueryPathInfoAsync(path, cancellationToken) is not { } info)
                missing.Add(input with { NarHash = wanted.ToString() });
            else if (!info.NarHash.Equals(wanted))
                throw new OriginException($"input '{input.Path}' is in this worker's store with NAR hash {info.NarHash}, but the request expects {wanted}");
        }

        return missing;
    }
}
