using BuildFarm.Store.Hashing;
using BuildFarm.Store.Nar;
using BuildFarm.Store.Paths;

namespace BuildFarm.Store.Local;

/// <summary>What enters the store: added files and texts, outputs registered in place, and signatures on valid paths.</summary>
public sealed partial class LocalStore
{
    /// <summary>
    /// Like <c>nix-store --add</c>: copies a file, directory or symlink in as the <c>source</c> path of its NAR hash
    /// (no references). The copy is hashed, not the original, so a source changing meanwhile cannot mislabel it.
    /// </summary>
    public async Task<StorePath> AddPathAsync(string sourcePath, CancellationToken cancellationToken, string? name = null)
    {
        var full = Path.GetFullPath(sourcePath);
        name ??= Path.GetFileName(full.TrimEnd('/'));
        if (StorePath.ValidateName(name) is { } error)
            throw new StoreException($"cannot add '{sourcePath}': {error}");
        if (!StoreFiles.Exists(full))
            throw new StoreException($"cannot add '{sourcePath}': no such file or directory");
        using var staged = CreateStagedPath();
        StoreFiles.Copy(full, staged.PhysicalPath, cancellationToken);
        StoreFiles.Canonicalise(staged.PhysicalPath);
        var (narHash, narSize) = await NarHasher.HashPathAsync(staged.PhysicalPath, cancellationToken);
        var path = StorePathFactory.MakeSource(StoreDir, name, narHash, []);
        var info = new ValidPathInfo(path, narHash, narSize, [], null, [], default);
        await CommitStagedAsync([new StagedEntry(staged, info)], cancellationToken);
        return path;
    }

    /// <summary>Like <c>builtins.toFile</c> and <c>.drv</c> files: a text path whose references are already valid.</summary>
    public async Task<StorePath> AddTextAsync(string name, byte[] contents, IEnumerable<StorePath> references, CancellationToken cancellationToken)
    {
        if (StorePath.ValidateName(name) is { } error)
            throw new StoreException($"cannot add text '{name}': {error}");
        var refs = references.Distinct().Order(StorePath.Ordinal).ToList();
        var path = StorePathFactory.MakeText(StoreDir, name, contents, refs);
        if (await IsValidAsync(path, cancellationToken))
            return path;
        using var staged = CreateStagedPath();
        await File.WriteAllBytesAsync(staged.PhysicalPath, contents, cancellationToken);
        StoreFiles.Canonicalise(staged.PhysicalPath);
        var (narHash, narSize) = await NarHasher.HashPathAsync(staged.PhysicalPath, cancellationToken);
        var info = new ValidPathInfo(path, narHash, narSize, refs, null, [], default);
        await CommitStagedAsync([new StagedEntry(staged, info)], cancellationToken);
        return path;
    }

    /// <summary>
    /// Registers a path a builder produced in place at its physical location: canonicalises it, hashes its NAR and
    /// scans the NAR for the digests of <paramref name="referenceCandidates"/> (the path itself is always a
    /// candidate). Every reference found must be valid. The caller should hold <see cref="LockPathAsync"/> from
    /// before the build until this returns, so no start-up cleanup deletes the unregistered output.
    /// </summary>
    public async Task<ValidPathInfo> RegisterOutputAsync(
        StorePath path, IEnumerable<StorePath> referenceCandidates, StorePath? deriver, CancellationToken cancellationToken)
    {
        var physical = PhysicalPath(path);
        if (!StoreFiles.Exists(physical))
            throw new StoreException($"cannot register '{path}': nothing at {physical}");
        if (await IsValidAsync(path, cancellationToken))
            throw new StoreException($"cannot register '{path}': it is already valid");
        StoreFiles.Canonicalise(physical);
        var (narHash, narSize, references) = await OutputScan.ScanAsync(physical, referenceCandidates.Append(path), cancellationToken);
        StoreFiles.SyncTree(physical);
        var info = new ValidPathInfo(path, narHash, narSize, references, deriver, [], _time.GetUtcNow());
        await using var connection = await _db.OpenAsync(cancellationToken);
        await using var transaction = StoreDatabase.BeginWrite(connection);
        foreach (var reference in info.References.Where(r => r != path))
        {
            if (await StoreDatabase.PathIdAsync(connection, transaction, reference, cancellationToken) is null)
                throw new StoreException($"output '{path}' references '{reference}', which is not valid in the store");
        }

        var id = await InsertRowAsync(connection, transaction, info, info.RegistrationTime, cancellationToken);
        await InsertReferencesAndSigsAsync(connection, transaction, id, info, new() { [path] = id }, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return info with { RegistrationTime = DateTimeOffset.FromUnixTimeSeconds(info.RegistrationTime.ToUnixTimeSeconds()) };
    }

    /// <summary>Adds signatures (<c>keyname:base64</c>) to a valid path; ones it already has are ignored.</summary>
    public async Task AddSignaturesAsync(StorePath path, IEnumerable<string> signatures, CancellationToken cancellationToken)
    {
        await using var connection = await _db.OpenAsync(cancellationToken);
        await using var transaction = StoreDatabase.BeginWrite(connection);
        var id = await StoreDatabase.PathIdAsync(connection, transaction, path, cancellationToken)
            ?? throw new StoreException($"cannot sign '{path}': it is not valid in the store");
        await InsertSignaturesAsync(connection, transaction, id, signatures, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
    }
}
