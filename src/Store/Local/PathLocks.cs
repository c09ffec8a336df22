namespace BuildFarm.Store.Local;

/// <summary>
/// Advisory inter-process locks, one file per name under <c>var/buildfarm/locks</c>. .NET takes an exclusive
/// <c>flock</c> on a file opened with <see cref="FileShare.None"/>, which the kernel drops when the process dies, so
/// a crashed holder never leaves a stale lock behind. Lock files are kept (deleting a lock file that a waiter has
/// open would let two holders lock different inodes), except temp-entry locks, whose names are never reused.
/// </summary>
internal sealed class PathLocks(string directory)
{
    private static readonly TimeSpan MaxPoll = TimeSpan.FromMilliseconds(200);

    public string Directory { get; } = directory;

    /// <summary>The lock, or null when another holder has it.</summary>
    public FileLock? TryAcquire(string name)
    {
        var file = Path.Combine(Directory, name + ".lock");
        try
        {
            var stream = new FileStream(file, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.None);
            return new FileLock(file, stream);
        }
        catch (IOException) when (File.Exists(file))
        {
            return null;
        }
    }

    /// <summary>Waits (polling: flock has no async wait) until the lock is free.</summary>
    public async Task<FileLock> AcquireAsync(string name, CancellationToken cancellationToken)
    {
        var delay = TimeSpan.FromMilliseconds(5);
        while (true)
        {
            var acquired = TryAcquire(name);
            if (acquired is not null)
                return acquired;
            await Task.Delay(delay, TimeProvider.System, cancellationToken);
            delay = delay * 2 > MaxPoll ? MaxPoll : delay * 2;
        }
    }

    /// <summary>Acquires several locks in a fixed order so that two multi-path holders cannot deadlock.</summary>
    public async Task<IReadOnlyList<FileLock>> AcquireAllAsync(IEnumerable<string> names, CancellationToken cancellationToken)
    {
        var held = new List<FileLock>();
        try
        {
            foreach (var name in names.Distinct().Order(StringComparer.Ordinal))
                held.Add(await AcquireAsync(name, cancellationToken));
            return held;
        }
        catch
        {
            held.ForEach(l => l.Dispose());
            throw;
        }
    }
}

/// <summary>A held lock; disposing releases it.</summary>
public sealed class FileLock : IDisposable
{
    private readonly FileStream _stream;

    internal FileLock(string file, FileStream stream)
    {
        File = file;
        _stream = stream;
    }

    internal string File { get; }

    /// <summary>Deletes the lock file while still holding it, then releases it (for names never reused).</summary>
    internal void DeleteAndRelease()
    {
        System.IO.File.Delete(File);
        Dispose();
    }

    public void Dispose() => _stream.Dispose();
}
