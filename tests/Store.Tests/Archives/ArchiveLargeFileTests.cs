using BuildFarm.Store.Archives;
using BuildFarm.Store.Local;
using BuildFarm.Store.Nar;
using BuildFarm.Store.Paths;
using BuildFarm.Store.Tests.Local;

namespace BuildFarm.Store.Tests.Archives;

/// <summary>
/// Files of at least <see cref="FileSyncer.LargeFileMinLength"/> are written in chunks on the FileSyncer's threads
/// (with O_DIRECT where the file system takes it, their unaligned end through the page cache): what is restored must
/// be the same bytes, modes and times, and an archive that goes wrong inside such a file must leave nothing behind.
/// </summary>
public sealed class ArchiveLargeFileTests : IAsyncLifetime
{
    private const int MiB = 1 << 20;
    private TestStore _from = null!;
    private TestStore _to = null!;

    public async Task InitializeAsync()
    {
        _from = await TestStore.CreateAsync();
        _to = await TestStore.CreateAsync();
    }

    public Task DisposeAsync()
    {
        _from.Dispose();
        _to.Dispose();
        return Task.CompletedTask;
    }

    [Fact]
    public async Task Import_LargeFilesOfAlignedAndUnalignedLengths_RestoredExactly()
    {
        var tree = Path.Combine(_from.Scratch, "large");
        Directory.CreateDirectory(tree);
        var lengths = new Dictionary<string, int>
        {
            ["a-exactly-one-chunk"] = MiB,
            ["b-one-byte-more"] = MiB + 1,
            ["c-unaligned"] = (3 * MiB) + 4095,
            ["d-aligned-not-chunked"] = (2 * MiB) + 8192,
            ["e-small"] = 100,
        };
        foreach (var (name, length) in lengths)
            await File.WriteAllBytesAsync(Path.Combine(tree, name), Bytes(length, seed: length));
        await File.WriteAllBytesAsync(Path.Combine(tree, "f-executable"), Bytes((2 * MiB) + 3, seed: 7));
        File.SetUnixFileMode(Path.Combine(tree, "f-executable"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var path = await _from.Store.AddPathAsync(tree, CancellationToken.None);

        var imported = await ArchiveImporter.ImportAsync(_to.Store, await ExportAsync(path), new ImportOptions(null, CheckSignatures: false), CancellationToken.None);

        Assert.Equal([path], imported);
        var physical = _to.Store.PhysicalPath(path);
        // Times before contents: reading a file may move its access time.
        foreach (var name in lengths.Keys.Append("f-executable"))
        {
            Assert.Equal(name == "f-executable" ? FileSystemNarSink.ReadExecute : FileSystemNarSink.ReadOnly, File.GetUnixFileMode(Path.Combine(physical, name)));
            Assert.Equal(FileSystemNarSink.CanonicalTime, File.GetLastWriteTimeUtc(Path.Combine(physical, name)));
            Assert.Equal(FileSystemNarSink.CanonicalTime, File.GetLastAccessTimeUtc(Path.Combine(physical, name)));
        }

        foreach (var (name, length) in lengths)
            Assert.Equal(Bytes(length, seed: length), await File.ReadAllBytesAsync(Path.Combine(physical, name)));
        Assert.Equal(Bytes((2 * MiB) + 3, seed: 7), await File.ReadAllBytesAsync(Path.Combine(physical, "f-executable")));
        var info = await _to.Store.GetPathInfoAsync(path, CancellationToken.None);
        Assert.Equal(info.NarHash, NarHasher.HashPath(physical, CancellationToken.None).Hash);
    }

    [Fact]
    public async Task Import_CorruptInsideALargeFile_HashMismatchAndNothingLeft()
    {
        var path = await AddLargeAsync();
        var archive = await ExportAsync(path);
        var bytes = archive.ToArray();
        bytes[bytes.Length / 2] ^= 0xff; // inside the 3 MiB file's contents
        var before = Snapshot();

        var error = await Assert.ThrowsAsync<ArchiveException>(
            () => ArchiveImporter.ImportAsync(_to.Store, new MemoryStream(bytes), new ImportOptions(null, CheckSignatures: false), CancellationToken.None));

        Assert.Contains("NAR hash mismatch", error.Message, StringComparison.Ordinal);
        Assert.Equal(before, Snapshot());
    }

    [Fact]
    public async Task Import_TruncatedInsideALargeFile_RejectedAndNothingLeft()
    {
        var path = await AddLargeAsync();
        var archive = (await ExportAsync(path)).ToArray();
        var before = Snapshot();

        foreach (var length in new[] { archive.Length / 3, archive.Length / 2, archive.Length - 4096 - 100 })
        {
            var error = await Assert.ThrowsAsync<ArchiveException>(
                () => ArchiveImporter.ImportAsync(_to.Store, new MemoryStream(archive[..length]), new ImportOptions(null, CheckSignatures: false), CancellationToken.None));
            Assert.True(error.Message.Contains("truncated", StringComparison.Ordinal), $"cut at {length}: {error.Message}");
            Assert.Equal(before, Snapshot());
        }
    }

    [Fact]
    public async Task Import_CancelledInsideALargeFile_NothingLeft()
    {
        var path = await AddLargeAsync();
        var archive = (await ExportAsync(path)).ToArray();
        var before = Snapshot();
        using var cancel = new CancellationTokenSource();
        var input = new CancelAfterStream(new MemoryStream(archive), archive.Length / 2, cancel);

        await Assert.ThrowsAnyAsync<OperationCanceledException>(
            () => ArchiveImporter.ImportAsync(_to.Store, input, new ImportOptions(null, CheckSignatures: false), cancel.Token));

        Assert.Equal(before, Snapshot());
    }

    private async Task<StorePath> AddLargeAsync()
    {
        var tree = Path.Combine(_from.Scratch, "one-large");
        Directory.CreateDirectory(tree);
        await File.WriteAllBytesAsync(Path.Combine(tree, "blob"), Bytes((3 * MiB) + 5, seed: 3));
        await File.WriteAllBytesAsync(Path.Combine(tree, "small"), Bytes(10, seed: 4));
        return await _from.Store.AddPathAsync(tree, CancellationToken.None);
    }

    private async Task<MemoryStream> ExportAsync(StorePath path)
    {
        var output = new MemoryStream();
        await ArchiveWriter.ExportAsync(_from.Store, [path], output, new ExportOptions(ArchiveFormat.BuildFarmSigned), CancellationToken.None);
        output.Position = 0;
        return output;
    }

    private string Snapshot() => string.Join('\n', _to.PhysicalEntries()) + "\n--\n" + string.Join('\n', _to.DatabaseRows());

    private static byte[] Bytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    /// <summary>Cancels <paramref name="cancel"/> once <paramref name="after"/> bytes were read.</summary>
    private sealed class CancelAfterStream(Stream inner, long after, CancellationTokenSource cancel) : Stream
    {
        private long _read;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => _read; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            var n = inner.Read(buffer);
            _read += n;
            if (_read >= after)
                cancel.Cancel();
            return n;
        }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            cancellationToken.ThrowIfCancellationRequested();
            return ValueTask.FromResult(Read(buffer.Span));
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
