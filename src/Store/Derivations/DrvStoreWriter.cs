using BuildFarm.Store.Local;
using BuildFarm.Store.Paths;

namespace BuildFarm.Store.Derivations;

/// <summary>
/// Adds compiled <c>.drv</c> files to the local store as text paths. The store only accepts paths whose references
/// are valid, so the input closure comes first: input <c>.drv</c>s not yet valid are read from the file system
/// (physical store, then the logical path) and added recursively; input sources not yet valid are copied from
/// their logical path (e.g. a real <c>/nix/store</c>) and must land on the same store path.
/// </summary>
public sealed class DrvStoreWriter(LocalStore store)
{
    private readonly Dictionary<StorePath, CompiledDerivation> _compiled = [];

    public async Task WriteAsync(IReadOnlyList<CompiledDerivation> derivations, CancellationToken cancellationToken)
    {
        foreach (var d in derivations)
            _compiled[d.DrvPath] = d;
        foreach (var d in derivations)
            await EnsureDrvAsync(d.DrvPath, cancellationToken);
    }

    private async Task EnsureDrvAsync(StorePath drvPath, CancellationToken cancellationToken)
    {
        if (await store.IsValidAsync(drvPath, cancellationToken))
            return;
        var (drv, bytes) = _compiled.TryGetValue(drvPath, out var compiled)
            ? (compiled.Derivation, compiled.AtermBytes)
            : await ReadFromFileSystemAsync(drvPath, cancellationToken);
        foreach (var input in drv.InputDrvs.Keys)
            await EnsureDrvAsync(input, cancellationToken);
        foreach (var src in drv.InputSrcs)
            await EnsureSourceAsync(src, drvPath, cancellationToken);
        var added = await store.AddTextAsync(drvPath.Name, bytes, DerivationPaths.References(drv), cancellationToken);
        if (added != drvPath)
            throw new StoreException($"{drvPath}: its contents give the store path {added}; the file is not the derivation its name says");
    }

    private async Task<(Derivation Drv, byte[] Bytes)> ReadFromFileSystemAsync(StorePath drvPath, CancellationToken cancellationToken)
    {
        var physical = store.Layout.PhysicalPath(drvPath);
        var file = File.Exists(physical) ? physical : drvPath.FullPath;
        if (!File.Exists(file))
            throw new StoreException($"input derivation {drvPath} is neither in the store nor at {drvPath.FullPath}");
        try
        {
            var bytes = await DerivationFiles.ReadBytesAsync(file, cancellationToken);
            return (DerivationAterm.Parse(store.StoreDir, bytes, drvPath.Name[..^4]), bytes);
        }
        catch (DerivationFormatException e)
        {
            throw new DerivationFormatException($"{file}: {e.Message}", e);
        }
    }

    private async Task EnsureSourceAsync(StorePath src, StorePath user, CancellationToken cancellationToken)
    {
        if (await store.IsValidAsync(src, cancellationToken))
            return;
        if (!File.Exists(src.FullPath) && !Directory.Exists(src.FullPath))
            throw new StoreException($"input source {src} of {user} is not in the store at {store.Layout.PhysicalStoreDir} and does not exist at {src.FullPath}; add it first");
        var added = await store.AddPathAsync(src.FullPath, cancellationToken, src.Name);
        if (added != src)
            throw new StoreException($"input source {src} of {user}: copying {src.FullPath} into the store gave {added} (it has references or is not a source path); add it with its closure first");
    }
}
