namespace BuildFarm.Store.Local;

/// <summary>
/// A temporary entry <c>.tmp-&lt;random&gt;</c> inside the physical store directory, locked for as long as it lives
/// so that another process's start-up cleanup leaves it alone. Being in the same directory as the final path, it
/// becomes that path with one atomic rename. Disposing deletes whatever is left of it.
/// </summary>
public sealed class StagedPath : IDisposable
{
    public const string Prefix = ".tmp-";

    private readonly FileLock _lock;

    private StagedPath(string physicalPath, FileLock fileLock)
    {
        PhysicalPath = physicalPath;
        _lock = fileLock;
    }

    /// <summary>Where to write the content (does not exist yet).</summary>
    public string PhysicalPath { get; }

    /// <summary>
    /// Every file of the content is already flushed to disk (an import's <see cref="FileSyncer"/> did it while the
    /// archive was read), so a commit need not flush it again.
    /// </summary>
    internal bool ContentSynced { get; set; }

    internal static StagedPath Create(string physicalStoreDir, PathLocks locks)
    {
        for (var attempt = 0; ; attempt++)
        {
            var name = Prefix + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(8));
            var fileLock = locks.TryAcquire(name);
            var physical = Path.Combine(physicalStoreDir, name);
            if (fileLock is not null && !StoreFiles.Exists(physical))
                return new StagedPath(physical, fileLock);
            fileLock?.Dispose();
            if (attempt > 10)
                throw new IOException($"could not create a temporary entry in {physicalStoreDir}");
        }
    }

    public void Dispose()
    {
        try
        {
            StoreFiles.Delete(PhysicalPath);
        }
        finally
        {
            _lock.DeleteAndRelease();
        }
    }
}
