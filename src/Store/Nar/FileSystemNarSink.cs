using BuildFarm.Store.Local;
using Microsoft.Win32.SafeHandles;

namespace BuildFarm.Store.Nar;

/// <summary>
/// Materialises NAR objects under a target path the way Nix's store holds them after canonicalisation:
/// files 0444 (0555 when executable), directories 0555 once complete, mtime 1. With a <see cref="FileSyncer"/>, each
/// complete file is handed to it to be flushed to disk in the background instead of being closed.
/// </summary>
internal sealed class FileSystemNarSink(string targetPath, FileSyncer? syncer = null) : INarSink
{
    public const UnixFileMode ReadOnly = UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead;
    public const UnixFileMode ReadExecute = ReadOnly | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;

    /// <summary>The store's canonical mtime: one second after the epoch.</summary>
    public static readonly DateTime CanonicalTime = DateTime.UnixEpoch.AddSeconds(1);

    private const long CanonicalSeconds = 1;

    private const UnixFileMode Building = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    public void CreateDirectory(string relativePath) => Directory.CreateDirectory(Physical(relativePath), Building);

    public void EndDirectory(string relativePath)
    {
        var path = Physical(relativePath);
        Directory.SetLastWriteTimeUtc(path, CanonicalTime);
        Directory.SetLastAccessTimeUtc(path, CanonicalTime);
        File.SetUnixFileMode(path, ReadExecute);
    }

    // A symlink's own mtime cannot be set through .NET without following it; its mode does not exist on Linux.
    public void CreateSymlink(string relativePath, string target) => File.CreateSymbolicLink(Physical(relativePath), target);

    public INarFile CreateFile(string relativePath, bool executable, long length) =>
        new NarFile(RestoreCalls.Create(Physical(relativePath), executable ? ReadExecute : ReadOnly), syncer);

    private string Physical(string archivePath) => archivePath == "/" ? targetPath : targetPath + archivePath;

    // No lock on the file (FileStream would take a shared flock): a FileSyncer may still hold this handle (to fsync
    // it) while the import reads the file back (a flat fixed output's hash).
    private sealed class NarFile(SafeFileHandle handle, FileSyncer? syncer) : INarFile
    {
        private long _offset;
        private bool _handedOver;

        public ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
        {
            // Synchronous positional write: it lands in the page cache, a thread-pool hop would only add latency.
            RestoreCalls.Write(handle, data.Span, _offset);
            _offset += data.Length;
            return ValueTask.CompletedTask;
        }

        public async ValueTask CompleteAsync(CancellationToken cancellationToken)
        {
            // The mode was set when the file was created; the times last, after every write.
            RestoreCalls.SetTimes(handle, CanonicalSeconds);
            if (syncer is not null)
            {
                _handedOver = true;
                await syncer.AddAsync(handle, cancellationToken);
            }
        }

        public void Dispose()
        {
            if (!_handedOver)
                handle.Dispose();
        }
    }
}
