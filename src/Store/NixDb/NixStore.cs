using System.Globalization;
using System.Text;
using BuildFarm.Store.Local;
using BuildFarm.Store.Paths;

namespace BuildFarm.Store.NixDb;

/// <summary>
/// The machine's real Nix store as an <see cref="IStore"/>: files in <c>/nix/store</c> (or another store directory
/// with its state beside it, as <c>NIX_STORE_DIR</c> and <c>NIX_STATE_DIR</c> give), metadata read from Nix's own database, paths made valid with the rows Nix's
/// own registration writes (<see cref="NixRegistration"/>; derivations, and databases of another schema, through
/// <c>nix-store --register-validity --hash-given</c>). Registration takes no path lock, so importing an output works
/// while nix-daemon holds <c>/nix/store/&lt;path&gt;.lock</c> for the build its hook is running.
/// </summary>
public sealed class NixStore : IStore
{
    private readonly NixDatabase _db;
    private readonly NixStoreCommand _nixStore;
    private readonly PathLocks _stagingLocks;
    private readonly TimeProvider _time;

    private NixStore(StoreLayout layout, NixDatabase db, NixStoreCommand nixStore, PathLocks stagingLocks, TimeProvider time)
    {
        _time = time;
        Layout = layout;
        _db = db;
        _nixStore = nixStore;
        _stagingLocks = stagingLocks;
    }

    public StoreLayout Layout { get; }

    public StoreDirectory StoreDir => Layout.StoreDir;

    /// <summary>Nix's SQLite file this store reads.</summary>
    public string DatabasePath => _db.File;

    /// <summary>
    /// Opens the Nix store of <paramref name="layout"/> (its database must exist: Nix creates it on first use).
    /// Temporary entries are locked under BuildFarm's own state directory (<c>/nix/var/buildfarm/locks</c>), never
    /// in Nix's lock namespace. A physical root is refused: Nix 2.8's <c>nix-store --register-validity</c> and
    /// <c>--dump</c> ignore <c>local?root=</c> and would read the logical paths.
    /// </summary>
    public static NixStore Open(StoreLayout layout, string? databaseFile = null, string nixStoreProgram = "nix-store", TimeProvider? time = null)
    {
        if (layout.Root.Length > 0)
            throw new StoreException($"the Nix store cannot be used under a physical root ({layout.Root}): Nix 2.8's nix-store --register-validity ignores local?root=; give the store directory itself (e.g. /nix/store) with no root");
        var file = string.IsNullOrEmpty(databaseFile) ? NixDatabase.DefaultFile(layout) : databaseFile;
        if (!File.Exists(file))
            throw new StoreException($"Nix's database {file} does not exist: is Nix installed and its store at {layout.PhysicalStoreDir} initialised (any nix-store command as root does it)?");
        if (!Directory.Exists(layout.PhysicalStoreDir))
            throw new StoreException($"the Nix store directory {layout.PhysicalStoreDir} does not exist");
        var locks = Path.Combine(LocalStore.StateDirectory(layout), "locks");
        Directory.CreateDirectory(locks);
        return new NixStore(layout, new NixDatabase(file, layout.StoreDir), new NixStoreCommand(nixStoreProgram, layout.StoreDir.Path), new PathLocks(locks), time ?? TimeProvider.System);
    }

    public StorePath ParsePath(string text) =>
        StorePath.TryParse(StoreDir, text, out var path, out var error) ? path! : throw new StoreException(error!);

    public string PhysicalPath(StorePath path) => Layout.PhysicalPath(path);

    public Task<bool> IsValidAsync(StorePath path, CancellationToken cancellationToken) => _db.IsValidAsync(path, cancellationToken);

    public Task<ValidPathInfo?> QueryPathInfoAsync(StorePath path, CancellationToken cancellationToken) => _db.QueryPathInfoAsync(path, cancellationToken);

    public async Task<ValidPathInfo> GetPathInfoAsync(StorePath path, CancellationToken cancellationToken) =>
        await _db.QueryPathInfoAsync(path, cancellationToken) ?? throw new StoreException($"path '{path}' is not valid in the Nix store (database {_db.File})");

    public Task<IReadOnlyList<ValidPathInfo>> QueryClosureInfoAsync(IEnumerable<StorePath> roots, CancellationToken cancellationToken) =>
        _db.QueryClosureInfoAsync(roots, cancellationToken);

    /// <summary>A <c>.tmp-…</c> entry in the store directory: not a store path name, so Nix's garbage collector deletes it if we die.</summary>
    public StagedPath CreateStagedPath() => StagedPath.Create(Layout.PhysicalStoreDir, _stagingLocks);

    /// <summary>
    /// Makes verified staged content valid in the Nix store: every reference must be in the batch or already valid;
    /// entries already valid are skipped. The files are canonicalised and flushed (unless restored from an archive, which
    /// did both), renamed into place, then registered
    /// in one <c>nix-store --register-validity --hash-given</c> (one SQLite transaction in Nix) and their signatures
    /// recorded. A failure before registration deletes the renamed entries; a failure after it unregisters them.
    /// </summary>
    public async Task<IReadOnlyList<StorePath>> CommitStagedAsync(IReadOnlyList<StagedEntry> entries, CancellationToken cancellationToken)
    {
        var batch = StagedEntry.BatchPaths(entries, StoreDir);

        // BuildFarm's own lock per path (never Nix's /nix/store/<path>.lock, which the daemon may hold for the build
        // whose outputs these are): two imports of the same paths, e.g. a redelivered event, take turns.
        var locks = await _stagingLocks.AcquireAllAsync(batch.Select(p => p.BaseName), cancellationToken);
        try
        {
            return await CommitLockedAsync(entries, batch, cancellationToken);
        }
        finally
        {
            foreach (var held in locks)
                held.Dispose();
        }
    }

    private async Task<IReadOnlyList<StorePath>> CommitLockedAsync(IReadOnlyList<StagedEntry> entries, HashSet<StorePath> batch, CancellationToken cancellationToken)
    {
        var toAdd = new List<StagedEntry>();
        foreach (var entry in entries)
        {
            if (!await _db.IsValidAsync(entry.Info.Path, cancellationToken))
                toAdd.Add(entry);
        }

        foreach (var entry in toAdd)
        {
            foreach (var reference in entry.Info.References)
            {
                if (!batch.Contains(reference) && !await _db.IsValidAsync(reference, cancellationToken))
                    throw new StoreException($"path '{entry.Info.Path}' references '{reference}', which is neither valid in the Nix store nor part of this import");
            }

            // Restored from an archive (ArchiveImporter): canonical as restored (FileSystemNarSink writes modes and
            // times as Nix canonicalises them) and every file already flushed by its FileSyncer. Doing both again
            // cost three metadata writes and an fsync (a device flush on this ext4) per file.
            if (!entry.Staged.ContentSynced)
            {
                StoreFiles.Canonicalise(entry.Staged.PhysicalPath);
                StoreFiles.SyncTree(entry.Staged.PhysicalPath);
            }
        }

        if (toAdd.Count == 0)
            return [.. entries.Select(e => e.Info.Path)];
        var renamed = new List<string>();
        var registered = false;
        try
        {
            // Checkpoint: from the first rename until nix-store commits, a crash leaves complete but invalid entries
            // under their final names. Nix treats them as garbage: the collector deletes them, and a build or import
            // of the same path deletes an invalid entry before writing it. Never a partial valid path.
            foreach (var entry in toAdd)
            {
                var final = PhysicalPath(entry.Info.Path);
                if (StoreFiles.Exists(final))
                {
                    // An invalid leftover (a killed import or build). Valid now means someone else just added it.
                    if (await _db.IsValidAsync(entry.Info.Path, cancellationToken))
                        throw new StoreException($"path '{entry.Info.Path}' became valid in the Nix store during this import; import again");
                    StoreFiles.Delete(final);
                }

                StoreFiles.Rename(entry.Staged.PhysicalPath, final);
                renamed.Add(final);
            }

            var infos = toAdd.Select(e => e.Info).ToList();
            if (NixRegistration.CanRegister(_db.File, infos))
            {
                // One transaction: the rows with their signatures and content addresses, or nothing.
                await StoreGraph.SortTopologicallyAsync(infos.Select(i => i.Path), (p, _) => Task.FromResult(ReferencesWithin(infos, p)), cancellationToken);
                await NixRegistration.RegisterAsync(_db.File, infos, _time.GetUtcNow(), cancellationToken);
                registered = true;
            }
            else
            {
                await _nixStore.RunAsync(["--register-validity", "--hash-given"], RegistrationInput(infos), cancellationToken);
                registered = true;

                // Checkpoint: the paths are valid (Nix committed them with hash, size, deriver, references). A crash before
                // the next line leaves them valid without the worker's signature; Nix accepts unsigned local paths.
                var sigs = toAdd.ToDictionary(e => e.Info.Path, e => e.Info.Signatures);
                await NixSignatureWriter.AddAsync(_db.File, sigs, cancellationToken);
                // Likewise the content address of a fixed output (Nix's registerOutputs records it; --register-validity cannot).
                await NixSignatureWriter.SetContentAddressesAsync(
                    _db.File, toAdd.Where(e => e.Info.ContentAddress is not null).ToDictionary(e => e.Info.Path, e => e.Info.ContentAddress!), cancellationToken);
            }

            renamed.Clear();
            return [.. entries.Select(e => e.Info.Path)];
        }
        finally
        {
            if (registered && renamed.Count > 0)
                await UnregisterAsync(toAdd);
            else
            {
                foreach (var final in renamed)
                    StoreFiles.Delete(final);
            }
        }
    }

    private static IReadOnlyList<StorePath> ReferencesWithin(List<ValidPathInfo> infos, StorePath path) =>
        [.. infos.First(i => i.Path == path).References.Where(r => r != path && infos.Exists(i => i.Path == r))];

    /// <summary>Deletes a valid path with <c>nix-store --delete</c> (which refuses while anything references it or a GC root holds it).</summary>
    public async Task DeleteAsync(StorePath path, CancellationToken cancellationToken) =>
        await _nixStore.RunAsync(["--delete", path.FullPath], "", cancellationToken);

    /// <summary><c>nix-store --register-validity --hash-given</c>'s input: path, NAR hash, NAR size, deriver, reference count, references.</summary>
    internal static string RegistrationInput(IEnumerable<ValidPathInfo> infos)
    {
        var text = new StringBuilder();
        foreach (var info in infos)
        {
            text.Append(info.Path.FullPath).Append('\n')
                .Append(info.NarHash.ToString()).Append('\n')
                .Append(info.NarSize.ToString(CultureInfo.InvariantCulture)).Append('\n')
                .Append(info.Deriver?.FullPath ?? "").Append('\n')
                .Append(info.References.Count.ToString(CultureInfo.InvariantCulture)).Append('\n');
            foreach (var reference in info.References)
                text.Append(reference.FullPath).Append('\n');
        }

        return text.ToString();
    }

    private async Task UnregisterAsync(List<StagedEntry> added)
    {
        // Referrers first; best effort, with its own token: the caller's may be what cancelled the import.
        var order = await StoreGraph.SortTopologicallyAsync(added.Select(e => e.Info.Path), (p, _) => Task.FromResult(added.First(e => e.Info.Path == p).Info.References), CancellationToken.None);
        foreach (var path in order.Reverse())
        {
            try
            {
                await DeleteAsync(path, CancellationToken.None);
            }
            catch (StoreException)
            {
                // Left valid without its signature: the caller reports the failure that brought us here.
            }
        }
    }
}
