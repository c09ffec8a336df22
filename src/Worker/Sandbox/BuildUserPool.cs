using System.Collections.Concurrent;

namespace BuildFarm.Worker.Sandbox;

/// <summary>
/// Host uids for running builds, one per build at a time (its processes, files and RLIMIT_NPROC are its own).
/// Exclusive across processes too: a uid is held through an exclusive lock on
/// <c>/run/buildfarm/build-users/UID.lock</c> (two workers on one machine with the same <c>FirstUid</c> never share
/// one); the kernel drops the lock when the holder dies, so a crashed worker leaks nothing.
/// </summary>
public sealed class BuildUserPool
{
    public const int Size = 1024;
    private const string LockDir = "/run/buildfarm/build-users";
    private static readonly ConcurrentDictionary<long, BuildUserPool> Pools = new();
    private readonly long _first;

    private BuildUserPool(long first) => _first = first;

    /// <summary>The process-wide pool starting at <paramref name="firstUid"/>.</summary>
    public static BuildUserPool For(long firstUid) => Pools.GetOrAdd(firstUid, f => new BuildUserPool(f));

    /// <summary>A free uid, held until the lease is disposed.</summary>
    /// <exception cref="IOException">when every uid of the pool is in use or the lock directory cannot be made.</exception>
    public BuildUser Rent()
    {
        Directory.CreateDirectory(LockDir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        for (var i = 0; i < Size; i++)
        {
            var uid = _first + i;
            try
            {
                // FileShare.None is an exclusive flock(2) on Unix: held by this process until disposed, or until it dies.
                var held = new FileStream(Path.Combine(LockDir, $"{uid}.lock"), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
                return new BuildUser(uid, held);
            }
            catch (IOException)
            {
                // In use by another build, in this process or another.
            }
        }

        throw new IOException($"all {Size} build users from uid {_first} are in use");
    }
}

/// <summary>One leased build user: host uid and gid <see cref="Uid"/>.</summary>
public sealed class BuildUser(long uid, FileStream held) : IDisposable
{
    public long Uid { get; } = uid;

    public void Dispose() => held.Dispose();
}
