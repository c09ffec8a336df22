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

    [Theory]
    [InlineData(ArchiveFormat.BuildFarmSigned)]
    [InlineData(ArchiveFormat.NixExport)]
    public async Task ExportAsync_WithoutVerifyContents_SameBytesAsVerified(ArchiveFormat format)
    {
        using var t = await TestStore.CreateAsync();
        var tree = t.MakeSampleTree("unhashed", Guid.NewGuid().ToString("N"));
        var large = new byte[(5 << 20) + 4567];
        Random.Shared.NextBytes(large);
        await File.WriteAllBytesAsync(Path.Combine(tree, "sub", "large.bin"), large);
        var dep = await t.Store.AddPathAsync(tree, CancellationToken.None);
        var top = await t.Store.AddTextAsync("top.txt", System.Text.Encoding.UTF8.GetBytes(dep.FullPath), [dep], CancellationToken.None);
        var verified = new MemoryStream();
        var unhashed = new MemoryStream();

        await ArchiveWriter.ExportAsync(t.Store, [top], verified, new ExportOptions(ArchiveFormat.BuildFarmSigned, Closure: true, SynchronousOutput: true), CancellationToken.None);
        var export = () => ArchiveWriter.ExportAsync(t.Store, [top], unhashed, new ExportOptions(format, Closure: true, SynchronousOutput: true, VerifyContents: false), CancellationToken.None);

        if (format == ArchiveFormat.NixExport)
        {
            // nix-store --import records the hash of whatever NAR it reads: a Nix-form export always checks.
            await Assert.ThrowsAsync<ArgumentException>(export);
            Assert.Equal(0, unhashed.Length);
            return;
        }

        await export();
        Assert.Equal(verified.ToArray(), unhashed.ToArray());
    }

    [Fact]
    public async Task ExportAsync_WithoutVerifyContentsFileChangedOnDisk_ImportRefusesThePathAndLeavesNothing()
    {
        using var from = await TestStore.CreateAsync();
        using var to = await TestStore.CreateAsync();
        var good = await from.Store.AddTextAsync("good.txt", "fine\n"u8.ToArray(), [], CancellationToken.None);
        var path = await from.Store.AddPathAsync(from.MakeSampleTree("changed", Guid.NewGuid().ToString("N")), CancellationToken.None);
        Corrupt(from, path);
        var output = new MemoryStream();

        // Same size, other bytes: the export has nothing to notice without hashing, and writes the whole archive.
        await ArchiveWriter.ExportAsync(from.Store, [good, path], output, new ExportOptions(ArchiveFormat.BuildFarmSigned, SynchronousOutput: true, VerifyContents: false), CancellationToken.None);
        var before = Snapshot(to);
        output.Position = 0;
        var error = await Assert.ThrowsAsync<ArchiveException>(
            () => ArchiveImporter.ImportAsync(to.Store, output, new ImportOptions(null, CheckSignatures: false), CancellationToken.None));

        Assert.StartsWith($"path '{path.FullPath}': NAR hash mismatch", error.Message, StringComparison.Ordinal);
        Assert.Contains("nothing imported", error.Message, StringComparison.Ordinal);
        Assert.Equal(before, Snapshot(to));
        Assert.False(await to.Store.IsValidAsync(good, CancellationToken.None));
    }

    [Fact]
    public async Task ExportAsync_WithoutVerifyContentsFileShrankOnDisk_ThrowsCorruptNamingThePath()
    {
        using var t = await TestStore.CreateAsync();
        var path = await t.Store.AddPathAsync(t.MakeSampleTree("shrank", Guid.NewGuid().ToString("N")), CancellationToken.None);
        var file = Writable(t, path);
        await File.WriteAllTextAsync(file, "");
        var output = new MemoryStream();

        var error = await Assert.ThrowsAsync<StoreException>(() =>
            ArchiveWriter.ExportAsync(t.Store, [path], output, new ExportOptions(ArchiveFormat.BuildFarmSigned, SynchronousOutput: true, VerifyContents: false), CancellationToken.None));

        Assert.Contains($"path '{path.FullPath}' is corrupt on disk", error.Message, StringComparison.Ordinal);
    }

    /// <summary>Flips one bit of the sample tree's hello.txt, keeping its size.</summary>
    private static void Corrupt(TestStore t, BuildFarm.Store.Paths.StorePath path)
    {
        var file = Writable(t, path);
        var bytes = File.ReadAllBytes(file);
        bytes[0] ^= 0x20;
        File.WriteAllBytes(file, bytes);
    }

    private static string Writable(TestStore t, BuildFarm.Store.Paths.StorePath path)
    {
        var file = Path.Combine(t.Store.PhysicalPath(path), "hello.txt");
        File.SetUnixFileMode(Path.GetDirectoryName(file)!, (UnixFileMode)0b111_101_101);
        File.SetUnixFileMode(file, (UnixFileMode)0b110_100_100);
        return file;
    }

    private static string Snapshot(TestStore t) => string.Join('\n', t.PhysicalEntries()) + "\n--\n" + string.Join('\n', t.DatabaseRows());
}
