using System.IO.Pipes;
using BuildFarm.Store.Local;
using BuildFarm.Testing;
using Microsoft.Win32.SafeHandles;

namespace BuildFarm.Store.Tests.Local;

public sealed class FileSyncerTests : IDisposable
{
    private readonly TempDirectory _temp = new("bf-syncer");

    private string Dir => _temp.Path;

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task FlushAsync_FilesHandedOver_AllClosedWithTheirContent()
    {
        var syncer = new FileSyncer();
        var files = new List<FileStream>();
        for (var i = 0; i < 300; i++)
        {
            var file = new FileStream(Path.Combine(Dir, $"f{i}"), FileMode.CreateNew, FileAccess.Write, FileShare.None, 0);
            file.Write([(byte)(i % 256)]);
            files.Add(file);
            await syncer.AddAsync(file.SafeFileHandle, CancellationToken.None);
        }

        await syncer.FlushAsync(CancellationToken.None);
        await syncer.DisposeAsync();

        Assert.All(files, f => Assert.True(f.SafeFileHandle.IsClosed));
        Assert.Equal([(byte)(299 % 256)], File.ReadAllBytes(Path.Combine(Dir, "f299")));
    }

    [Fact]
    public async Task FlushAsync_FsyncFails_ThrowsAndStillClosesEveryFile()
    {
        // fsync of a pipe fails (EINVAL): the flush must say so rather than let the commit go ahead.
        using var pipe = new AnonymousPipeServerStream(PipeDirection.Out);
        var onPipe = new FileStream(new SafeFileHandle(pipe.SafePipeHandle.DangerousGetHandle(), ownsHandle: false), FileAccess.Write, 1);
        var regular = new FileStream(Path.Combine(Dir, "after"), FileMode.CreateNew, FileAccess.Write, FileShare.None, 0);
        var syncer = new FileSyncer();
        await syncer.AddAsync(onPipe.SafeFileHandle, CancellationToken.None);
        await syncer.AddAsync(regular.SafeFileHandle, CancellationToken.None);

        var error = await Assert.ThrowsAsync<IOException>(() => syncer.FlushAsync(CancellationToken.None));
        await syncer.DisposeAsync();

        Assert.StartsWith("flushing restored files to disk failed", error.Message, StringComparison.Ordinal);
        Assert.True(regular.SafeFileHandle.IsClosed);
    }

    [Fact]
    public async Task DisposeAsync_WithoutFlush_ClosesFilesHandedOver()
    {
        var syncer = new FileSyncer();
        var file = new FileStream(Path.Combine(Dir, "abandoned"), FileMode.CreateNew, FileAccess.Write, FileShare.None, 0);
        await syncer.AddAsync(file.SafeFileHandle, CancellationToken.None);

        await syncer.DisposeAsync();

        Assert.True(file.SafeFileHandle.IsClosed);
    }

    [Fact]
    public async Task FlushAsync_LargeFileInChunksWithAnUnalignedEnd_WrittenWithItsTimes()
    {
        var path = Path.Combine(Dir, "large");
        var expected = new byte[(2 * FileSyncer.ChunkSize) + 4097];
        new Random(1).NextBytes(expected);
        var syncer = new FileSyncer();
        var file = syncer.OpenLarge(File.OpenHandle(path, FileMode.CreateNew, FileAccess.Write), timesSeconds: 1);
        for (var offset = 0; offset < expected.Length; offset += FileSyncer.ChunkSize)
        {
            var chunk = await syncer.RentAsync(CancellationToken.None);
            var length = Math.Min(FileSyncer.ChunkSize, expected.Length - offset);
            expected.AsSpan(offset, length).CopyTo(chunk.Memory.Span);
            await syncer.WriteAsync(file, chunk, length, CancellationToken.None);
        }

        await syncer.CompleteAsync(file, CancellationToken.None);
        await syncer.FlushAsync(CancellationToken.None);
        await syncer.DisposeAsync();

        Assert.True(file.Handle.IsClosed);
        Assert.Equal(DateTime.UnixEpoch.AddSeconds(1), File.GetLastWriteTimeUtc(path));
        Assert.Equal(expected, await File.ReadAllBytesAsync(path));
    }

    [Fact]
    public async Task DisposeAsync_LargeFileAbandonedWithChunksHandedOver_Closed()
    {
        var syncer = new FileSyncer();
        var file = syncer.OpenLarge(File.OpenHandle(Path.Combine(Dir, "abandoned-large"), FileMode.CreateNew, FileAccess.Write), timesSeconds: 1);
        var chunk = await syncer.RentAsync(CancellationToken.None);
        await syncer.WriteAsync(file, chunk, FileSyncer.ChunkSize, CancellationToken.None);

        syncer.Abandon(file);
        await syncer.DisposeAsync();

        Assert.True(file.Handle.IsClosed);
    }
}
