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

    public INarFile CreateFile(string relativePath, bool executable, long length)
    {
        var handle = RestoreCalls.Create(Physical(relativePath), executable ? ReadExecute : ReadOnly);
        return syncer is { LargeFilesInBackground: true } && length >= FileSyncer.LargeFileMinLength
            ? new LargeNarFile(syncer, syncer.OpenLarge(handle, CanonicalSeconds))
            : new NarFile(handle, length, syncer);
    }

    private string Physical(string archivePath) => archivePath == "/" ? targetPath : targetPath + archivePath;

    // No lock on the file (FileStream would take a shared flock): a FileSyncer may still hold this handle (to fsync
    // it) while the import reads the file back (a flat fixed output's hash).
    private sealed class NarFile : PooledNarFile
    {
        private readonly SafeFileHandle _handle;
        private readonly FileSyncer? _syncer;
        private long _offset;
        private bool _handedOver;

        public NarFile(SafeFileHandle handle, long length, FileSyncer? syncer)
            : base(length)
        {
            _handle = handle;
            _syncer = syncer;
        }

        // Synchronous positional writes: they land in the page cache, a thread-pool hop would only add latency.
        protected override void Write(ReadOnlySpan<byte> data)
        {
            RestoreCalls.Write(_handle, data, _offset);
            _offset += data.Length;
        }

        public override async ValueTask CompleteAsync(CancellationToken cancellationToken)
        {
            // The mode was set when the file was created; the times last, after every write.
            RestoreCalls.SetTimes(_handle, CanonicalSeconds);
            if (_syncer is not null)
            {
                _handedOver = true;
                await _syncer.AddAsync(_handle, cancellationToken);
            }
        }

        public override void Dispose()
        {
            if (!_handedOver)
                _handle.Dispose();
            base.Dispose();
        }
    }

    /// <summary>A large file: its chunks are read into the syncer's buffers and written by its threads.</summary>
    private sealed class LargeNarFile(FileSyncer syncer, FileSyncer.LargeFile file) : INarFile
    {
        private FileSyncer.Chunk? _chunk;
        private bool _completed;

        public async ValueTask<Memory<byte>> GetBufferAsync(int length, CancellationToken cancellationToken)
        {
            _chunk ??= await syncer.RentAsync(cancellationToken);
            return _chunk.Memory[..length];
        }

        public async ValueTask WriteAsync(Memory<byte> data, CancellationToken cancellationToken)
        {
            var chunk = _chunk ?? throw new InvalidOperationException("no buffer to write from");
            _chunk = null;
            await syncer.WriteAsync(file, chunk, data.Length, cancellationToken);
        }

        public async ValueTask CompleteAsync(CancellationToken cancellationToken)
        {
            _completed = true;
            await syncer.CompleteAsync(file, cancellationToken);
        }

        public void Dispose()
        {
            if (_chunk is { } chunk)
            {
                _chunk = null;
                syncer.Return(chunk);
            }

            if (!_completed)
                syncer.Abandon(file);
        }
    }
}
