using BuildFarm.Store.Paths;

namespace BuildFarm.Store.Local;

/// <summary>
/// A store on local disk: files under <see cref="StoreLayout.PhysicalStoreDir"/>, metadata in SQLite at
/// <c>&lt;root&gt;&lt;parent of storeDir&gt;/var/buildfarm/store.db</c>. Several processes may open the same store.
/// A path is valid exactly when its row is committed; its files are renamed into place before that, so a crash in
/// between leaves an entry without a row, which the next <see cref="OpenAsync"/> deletes.
/// </summary>
public sealed partial class LocalStore
{
    private readonly StoreDatabase _db;
    private readonly PathLocks _locks;
    private readonly TimeProvider _time;

    private LocalStore(StoreLayout layout, StoreDatabase db, PathLocks locks, TimeProvider time)
    {
        Layout = layout;
        _db = db;
        _locks = locks;
        _time = time;
    }

    public StoreLayout Layout { get; }

    public StoreDirectory StoreDir => Layout.StoreDir;

    /// <summary>The SQLite file.</summary>
    public string DatabasePath => _db.File;

    /// <summary><c>&lt;root&gt;&lt;parent of storeDir&gt;/var/buildfarm</c>, e.g. <c>/srv/w1/nix/var/buildfarm</c>.</summary>
    public static string StateDirectory(StoreLayout layout)
    {
        var parent = Path.GetDirectoryName(layout.StoreDir.Path) ?? "/";
        return Layout_Join(layout.Root, parent, "var/buildfarm");
    }

    /// <summary>
    /// Opens (creating directories, creating or migrating the schema) and deletes invalid leftovers: temp entries and store entries without
    /// a row, unless another process holds their lock (a staging add or a builder writing its output in place).
    /// Refuses a non-empty store directory that has no database yet, rather than deleting what it does not own.
    /// </summary>
    public static async Task<LocalStore> OpenAsync(StoreLayout layout, TimeProvider? time = null, CancellationToken cancellationToken = default)
    {
        var state = StateDirectory(layout);
        var dbFile = Path.Combine(state, "store.db");
        var fresh = !File.Exists(dbFile);
        if (fresh && Directory.Exists(layout.PhysicalStoreDir) && Directory.EnumerateFileSystemEntries(layout.PhysicalStoreDir).Any())
            throw new StoreException($"store directory {layout.PhysicalStoreDir} is not empty but has no BuildFarm database at {dbFile}; refusing to take it over (is it another tool's store? use another --root)");
        Directory.CreateDirectory(layout.PhysicalStoreDir);
        Directory.CreateDirectory(Path.Combine(state, "locks"));
        var db = new StoreDatabase(dbFile, layout.StoreDir);
        await db.MigrateAsync(cancellationToken);
        var store = new LocalStore(layout, db, new PathLocks(Path.Combine(state, "locks")), time ?? TimeProvider.System);
        await store.DeleteInvalidLeftoversAsync(cancellationToken);
        return store;
    }

    /// <summary>Parses a full logical path (e.g. <c>/nix/store/abc…-x</c>) of this store.</summary>
    public StorePath ParsePath(string text) =>
        StorePath.TryParse(StoreDir, text, out var path, out var error) ? path! : throw new StoreException(error!);

    public string PhysicalPath(StorePath path) => Layout.PhysicalPath(path);

    /// <summary>
    /// Locks a path against concurrent adds and against start-up cleanup, for a builder that writes an output at its
    /// physical location before <see cref="RegisterOutputAsync"/>. Dispose after registering (or giving up).
    /// </summary>
    public async Task<FileLock> LockPathAsync(StorePath path, CancellationToken cancellationToken) =>
        await _locks.AcquireAsync(path.BaseName, cancellationToken);

    private static string Layout_Join(string root, string parent, string relative) =>
        (root + (parent == "/" ? "" : parent) + "/" + relative).Replace("//", "/", StringComparison.Ordinal);
}
