using BuildFarm.Store.Archives;
using BuildFarm.Store.Nar;
using BuildFarm.Store.Tests.Local;
using BuildFarm.Testing;

namespace BuildFarm.Store.Tests.Archives;

/// <summary>
/// A store path whose root is a symlink to a directory ('/' here, which exists on every host) is valid in Nix: its NAR
/// is a single symlink node. .NET's file calls follow such a link, which made our import and add refuse it.
/// </summary>
public sealed class SymlinkRootNixTests
{
    private static readonly ImportOptions NoSigs = new(null, CheckSignatures: false);

    [Theory]
    [InlineData("/")]
    [InlineData("/tmp")]
    public async Task AddPath_SymlinkToDirectory_SamePathHashAndDumpAsNix(string target)
    {
        using var t = await TestStore.CreateAsync();
        var link = Path.Combine(t.Scratch, "to-dir");
        File.CreateSymbolicLink(link, target);

        var path = await t.Store.AddPathAsync(link, CancellationToken.None);

        var nixPath = await NixOracle.RunTextAsync("nix-store", "--add", link);
        Assert.Equal(nixPath, path.FullPath);
        var physical = t.Store.PhysicalPath(path);
        Assert.Equal(target, new FileInfo(physical).LinkTarget);
        var dump = new MemoryStream();
        await NarWriter.WriteAsync(physical, dump, CancellationToken.None);
        Assert.Equal(await NixOracle.DumpAsync(nixPath), dump.ToArray());
        var info = await t.Store.GetPathInfoAsync(path, CancellationToken.None);
        Assert.Equal(await NixOracle.RunTextAsync("nix-store", "-q", "--hash", nixPath), info.NarHash.ToString());
        Assert.Equal(await NixOracle.RunTextAsync("nix-store", "-q", "--size", nixPath), info.NarSize.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.DoesNotContain(t.PhysicalEntries(), e => e.StartsWith(".tmp-", StringComparison.Ordinal));
    }

    [Fact]
    public async Task ImportAsync_NixExportOfSymlinkToRoot_ImportedWithNixsHashAndExportsBackByteIdentical()
    {
        using var t = await TestStore.CreateAsync();
        var link = Path.Combine(t.Scratch, "to-root-" + Guid.NewGuid().ToString("N")[..8]);
        File.CreateSymbolicLink(link, "/");
        var nixPath = await NixOracle.RunTextAsync("nix-store", "--add", link);
        var archive = await NixOracle.RunBytesAsync("nix-store", "--export", nixPath);

        var imported = await ArchiveImporter.ImportAsync(t.Store, new MemoryStream(archive), NoSigs, CancellationToken.None);

        Assert.Equal([nixPath], imported.Select(p => p.FullPath));
        var info = await t.Store.GetPathInfoAsync(imported[0], CancellationToken.None);
        Assert.Equal(await NixOracle.RunTextAsync("nix-store", "-q", "--hash", nixPath), info.NarHash.ToString());
        Assert.Equal("/", new FileInfo(t.Store.PhysicalPath(imported[0])).LinkTarget);
        var ours = new MemoryStream();
        await ArchiveWriter.ExportAsync(t.Store, imported, ours, new ExportOptions(), CancellationToken.None);
        Assert.Equal(archive, ours.ToArray());
        Assert.DoesNotContain(t.PhysicalEntries(), e => e.StartsWith(".tmp-", StringComparison.Ordinal));
    }

    [Fact]
    public async Task RestoreAsync_NarOfSymlinkToDirectory_SameAsNixStoreRestore()
    {
        using var t = await TestStore.CreateAsync();
        var link = Path.Combine(t.Scratch, "link");
        File.CreateSymbolicLink(link, "/");
        var nar = await NixOracle.DumpAsync(link);
        var ours = Path.Combine(t.Scratch, "ours");
        var nixs = Path.Combine(t.Scratch, "nixs");

        await NarReader.RestoreAsync(new MemoryStream(nar), ours, rejectTrailingData: true, CancellationToken.None);

        (await ProcessRunner.RunAsync("nix-store", ["--restore", nixs], stdin: nar)).EnsureSuccess("nix-store --restore");
        Assert.Equal(new FileInfo(nixs).LinkTarget, new FileInfo(ours).LinkTarget);
        Assert.Equal(nar, await NixOracle.DumpAsync(ours));
    }

    [Fact]
    public async Task RestoreAsync_SymlinkToDirectoryThenTruncated_NothingLeftBehind()
    {
        using var t = await TestStore.CreateAsync();
        var link = Path.Combine(t.Scratch, "link");
        File.CreateSymbolicLink(link, "/");
        var nar = await NixOracle.DumpAsync(link);
        var target = Path.Combine(t.Scratch, "cut");

        // Cut after the target string: the link is made, then the closing ')' is missing.
        await Assert.ThrowsAsync<NarFormatException>(() => NarReader.RestoreAsync(new MemoryStream(nar[..^16]), target, rejectTrailingData: true, CancellationToken.None));

        Assert.False(Path.Exists(target) || new FileInfo(target).LinkTarget is not null, "the partial restore (a symlink to '/') is still there");
        Assert.True(Directory.Exists("/tmp"), "cleanup must delete the link, never what it points to");
    }
}
