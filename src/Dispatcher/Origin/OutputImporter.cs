using BuildFarm.Contracts.Builds;
using BuildFarm.Dispatcher.Lifecycle;
using BuildFarm.Store.Archives;
using BuildFarm.Store.Derivations;
using BuildFarm.Store.Hashing;
using BuildFarm.Store.Local;
using BuildFarm.Store.Paths;
using BuildFarm.Store.Quarantine;
using BuildFarm.Store.Signing;
using Serilog;

namespace BuildFarm.Dispatcher.Origin;

/// <summary>
/// Step 6 of the offload path: imports an attempt's quarantine archive into the origin store with the trusted worker
/// keys (every signature and NAR hash, all or nothing), then checks that every output the event names is valid with
/// the event's NAR hash. A mismatch after the import removes what this import added, so a rejection leaves the
/// origin store as it was. Whatever the signatures say, the archive may hold only outputs of the build's derivation
/// (the build record's <c>.drv</c> text), and a fixed output must hold its declared content: checked on the restored
/// copy before it becomes valid (<see cref="ReturnedOutputs"/>), so a stolen worker key cannot plant a
/// content-addressed path that every later build would trust. The trusted keys are taken afresh for every import
/// (<see cref="TrustedKeysFile.Current"/>), so a key added to or removed from the file counts from the next import on.
/// </summary>
internal sealed class OutputImporter(OriginStore origin, TrustedKeysFile workerKeys, TimeProvider time) : IOutputImporter
{
    private readonly OutputQuarantine _quarantine = new(origin.Layout);

    public async Task<string?> ImportAsync(BuildSucceeded e, string drvPath, string drvText, CancellationToken cancellationToken)
    {
        var store = await origin.OpenAsync(cancellationToken);
        if (!StorePath.TryParse(store.StoreDir, drvPath, out var drvStorePath, out var drvPathError))
            return $"outputs rejected: the build's derivation '{drvPath}' is not a path of {store.StoreDir}: {drvPathError}";
        if (!DrvText.TryToBytes(drvText, out var drvBytes, out var codecError))
            return $"outputs rejected: the build's derivation cannot be read: {codecError}";
        var (drv, drvError) = origin.ParseDerivation(drvStorePath!, drvBytes);
        if (drv is null)
            return $"outputs rejected: the build's derivation cannot be read: {drvError}";
        var outputs = new List<(BuiltOutput Event, StorePath Path, bool WasValid)>();
        foreach (var o in e.Outputs)
        {
            if (!StorePath.TryParse(store.StoreDir, o.Path, out var path, out var error))
                return $"outputs rejected: output '{o.Name}' path '{o.Path}' is not a path of {store.StoreDir}: {error}";
            if (!drv.Outputs.TryGetValue(o.Name, out var declared) || declared.Path != path)
                return $"outputs rejected: output '{o.Name}' {path} is not output '{o.Name}' of {drvPath} ({(declared?.Path is { } p ? "that is " + p : "it has no such output")})";
            outputs.Add((o, path!, await store.IsValidAsync(path!, cancellationToken)));
        }

        if (outputs.Count == 0)
            return "outputs rejected: the result names no output";
        // Registration times are whole seconds: anything registered from this second on may be ours.
        var startedAt = DateTimeOffset.FromUnixTimeSeconds(time.GetUtcNow().ToUnixTimeSeconds());
        IReadOnlyList<StorePath> imported;
        await using (var archive = _quarantine.OpenOrNull(e.BuildId, e.Attempt))
        {
            if (archive is null)
                return $"outputs rejected: no returned outputs in quarantine ({_quarantine.FileFor(e.BuildId, e.Attempt)} is missing)";
            try
            {
                var options = new ImportOptions(workerKeys.Current(), OutputsOf: new ReturnedOutputs(drvStorePath!, drv));
                imported = await ArchiveImporter.ImportAsync(store, archive, options, cancellationToken);
            }
            catch (Exception ex) when (ex is ArchiveException or StoreException)
            {
                return "outputs rejected: " + ex.Message;
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // The importer has already deleted its temporary entries. Ending the build here, with the reason, beats
                // an exception that makes the broker redeliver the event until the lease expires ("worker not heard
                // from"): an upload this origin cannot write would fail the same way every time.
                Log.Warning(ex, "Import of {BuildId} attempt {Attempt} failed on the origin's file system", e.BuildId, e.Attempt);
                return $"outputs rejected: the origin could not write them into {store.StoreDir}: {ex.Message}";
            }
        }

        var mismatch = await CheckAsync(store, outputs, imported, cancellationToken);
        if (mismatch is null)
            return null;
        await RollBackAsync(store, outputs, imported, startedAt, cancellationToken);
        return "outputs rejected: " + mismatch;
    }

    public void Discard(Guid buildId, int attempt)
    {
        try
        {
            _quarantine.Delete(buildId, attempt);
        }
        catch (IOException ex)
        {
            Log.Warning(ex, "Could not delete quarantine file of {BuildId} attempt {Attempt}", buildId, attempt);
        }
    }

    private static async Task<string?> CheckAsync(IStore store, List<(BuiltOutput Event, StorePath Path, bool WasValid)> outputs, IReadOnlyList<StorePath> imported, CancellationToken cancellationToken)
    {
        var inArchive = imported.ToHashSet();
        foreach (var (o, path, _) in outputs)
        {
            if (!inArchive.Contains(path))
                return $"output '{o.Name}' {path} is not in the returned archive";
            var info = await store.QueryPathInfoAsync(path, cancellationToken);
            if (info is null)
                return $"output '{o.Name}' {path} is not valid in the origin store after the import";
            if (!NixHash.TryParse(o.NarHash, out var claimed) || !claimed.Equals(info.NarHash) || o.NarSize != info.NarSize)
                return $"output '{o.Name}' {path}: the result says NAR hash {o.NarHash} ({o.NarSize} bytes) but the archive holds {info.NarHash} ({info.NarSize} bytes)";
        }

        return null;
    }

    /// <summary>Deletes, referrers first, the archive's paths this import made valid.</summary>
    private static async Task RollBackAsync(IStore store, List<(BuiltOutput Event, StorePath Path, bool WasValid)> outputs, IReadOnlyList<StorePath> imported, DateTimeOffset startedAt, CancellationToken cancellationToken)
    {
        var validBefore = outputs.Where(o => o.WasValid).Select(o => o.Path).ToHashSet();
        foreach (var path in imported.Reverse())
        {
            if (validBefore.Contains(path) || await store.QueryPathInfoAsync(path, cancellationToken) is not { } info || info.RegistrationTime < startedAt)
                continue;
            try
            {
                await store.DeleteAsync(path, cancellationToken);
            }
            catch (StoreException ex)
            {
                Log.Warning(ex, "Could not roll back {Path} of a rejected import", path.FullPath);
            }
        }
    }
}
