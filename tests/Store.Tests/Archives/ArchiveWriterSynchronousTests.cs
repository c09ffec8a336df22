using BuildFarm.Store.Archives;
using BuildFarm.Store.Local;
using BuildFarm.Store.Signing;
using BuildFarm.Store.Tests.Local;

namespace BuildFarm.Store.Tests.Archives;

/// <summary>The CLI's synchronous export (<see cref="ExportOptions.SynchronousOutput"/>) against the asynchronous writer.</summary>
public sealed class ArchiveWriterSynchronousTests
{
    [Theory]
    [InlineData(ArchiveFormat.BuildFarmSigned)]
    [InlineData(ArchiveFormat.NixExport)]
    public async Task ExportAsync_SynchronousOutput_SameBytesAsTheAsynchronousWriter(ArchiveFormat format)
    {
        using var t = await TestStore.CreateAsync();
        var tree = t.MakeSampleTree("sync", Guid.NewGuid().ToString("N"));
        // Past NarHasher's read-ahead threshold (4 MiB, so the helper thread writes too) and not a multiple of its
        // 128 KiB chunk: the last partial chunk is written as well.
        var large = new byte[(5 << 20) + 4567];
        Random.Shared.NextBytes(large);
        await File.WriteAllBytesAsync(Path.Combine(tree, "sub", "large.bin"), large);
        var dep = await t.Store.AddPathAsync(tree, CancellationToken.None);
        var top = await t.Store.AddTextAsync("top.txt", System.Text.Encoding.UTF8.GetBytes(dep.FullPath), [dep], CancellationToken.None);
        var key = format == ArchiveFormat.BuildFarmSigned ? SigningKey.Generate("origin-1") : null;
        var asynchronous = new MemoryStream();
        var synchronous = new MemoryStream();

        await ArchiveWriter.ExportAsync(t.Store, [top], asynchronous, new ExportOptions(format, Closure: true, key), CancellationToken.None);
        await ArchiveWriter.ExportAsync(t.Store, [top], synchronous, new ExportOptions(format, Closure: true, key, SynchronousOutput: true), CancellationToken.None);

        Assert.True(synchronous.Length > large.Length);
        Assert.Equal(asynchronous.ToArray(), synchronous.ToArray());
    }

    [Fact]
    public async Task ExportAsync_SynchronousOutputFileChangedOnDisk_ThrowsCorruptBeforeThePathEnds()
    {
        using var t = await TestStore.CreateAsync();
        var path = await t.Store.AddPathAsync(t.MakeSampleTree("changed", Guid.NewGuid().ToString("N")), CancellationToken.None);
        var file = Path.Combine(t.Store.PhysicalPath(path), "hello.txt");
        var directory = Path.GetDirectoryName(file)!;
        File.SetUnixFileMode(directory, (UnixFileMode)0b111_101_101);
        File.SetUnixFileMode(file, (UnixFileMode)0b110_100_100);
        var bytes = await File.ReadAllBytesAsync(file);
        bytes[0] ^= 0x20;
        await File.WriteAllBytesAsync(file, bytes);
        var output = new MemoryStream();

        var error = await Assert.ThrowsAsync<StoreException>(() =>
            ArchiveWriter.ExportAsync(t.Store, [path], output, new ExportOptions(ArchiveFormat.BuildFarmSigned, SynchronousOutput: true), CancellationToken.None));

        Assert.Contains("is corrupt on disk", error.Message, StringComparison.Ordinal);
        Assert.Contains(path.FullPath, error.Message, StringComparison.Ordinal);
    }
}
