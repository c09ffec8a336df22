using BuildFarm.Store.Archives;
using BuildFarm.Store.Local;
using BuildFarm.Store.Signing;
using BuildFarm.Store.Tests.Local;
using BuildFarm.Testing;

namespace BuildFarm.Store.Tests.Archives;

/// <summary>Archives against the real Nix: its exports import into us, ours import into it, our signatures verify.</summary>
public sealed class ArchiveNixTests
{
    private static readonly ImportOptions NoSigs = new(null, CheckSignatures: false);

    [Fact]
    public async Task ImportAsync_NixStoreExport_PathsHashesAndReferencesPreserved()
    {
        using var t = await TestStore.CreateAsync();
        var source = t.MakeSampleTree("exported", Guid.NewGuid().ToString("N"));
        var dir = await NixOracle.RunTextAsync("nix-store", "--add", source);
        var text = (await NixOracle.RunTextAsync("nix-instantiate", "--eval", "--read-write-mode", "-E", $"builtins.toFile \"uses.txt\" \"${{{source}}}\"")).Trim('"');
        var archive = await NixOracle.RunBytesAsync("nix-store", "--export", text, dir);

        var imported = await ArchiveImporter.ImportAsync(t.Store, new MemoryStream(archive), NoSigs, CancellationToken.None);

        Assert.Equal(new[] { dir, text }.Order(StringComparer.Ordinal), imported.Select(p => p.FullPath).Order(StringComparer.Ordinal));
        foreach (var path in imported)
        {
            var info = await t.Store.GetPathInfoAsync(path, CancellationToken.None);
            Assert.Equal(await NixOracle.RunTextAsync("nix-store", "-q", "--hash", path.FullPath), info.NarHash.ToString());
            var nixRefs = (await NixOracle.RunTextAsync("nix-store", "-q", "--references", path.FullPath)).Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal(nixRefs.Order(StringComparer.Ordinal), info.References.Select(r => r.FullPath));
            Assert.Equal("sha256:" + await NixOracle.HashPathAsync(t.Store.PhysicalPath(path)), info.NarHash.ToString());
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ExportAsync_SamePathsAsNix_ByteIdenticalToNixStoreExport(bool synchronousOutput)
    {
        using var t = await TestStore.CreateAsync();
        var source = t.MakeSampleTree("bytes", Guid.NewGuid().ToString("N"));
        var dep = await t.Store.AddPathAsync(source, CancellationToken.None);
        var text = await t.Store.AddTextAsync("bytes.txt", System.Text.Encoding.UTF8.GetBytes(dep.FullPath), [dep], CancellationToken.None);
        var nixText = (await NixOracle.RunTextAsync("nix-instantiate", "--eval", "--read-write-mode", "-E", $"builtins.toFile \"bytes.txt\" \"${{{source}}}\"")).Trim('"');
        Assert.Equal(text.FullPath, nixText);
        var ours = new MemoryStream();

        await ArchiveWriter.ExportAsync(t.Store, [text], ours, new ExportOptions(Closure: true, SynchronousOutput: synchronousOutput), CancellationToken.None);

        Assert.Equal(await NixOracle.RunBytesAsync("nix-store", "--export", dep.FullPath, text.FullPath), ours.ToArray());
    }

    [Fact]
    public async Task ExportAsync_Closure_ImportsIntoSeparateNixStoreWithSameHashes()
    {
        using var t = await TestStore.CreateAsync();
        var dep = await t.Store.AddPathAsync(t.MakeSampleTree("ours", Guid.NewGuid().ToString("N")), CancellationToken.None);
        var top = await t.Store.AddTextAsync("top.txt", System.Text.Encoding.UTF8.GetBytes(dep.FullPath), [dep], CancellationToken.None);
        var archive = new MemoryStream();
        var written = await ArchiveWriter.ExportAsync(t.Store, [top], archive, new ExportOptions(Closure: true), CancellationToken.None);
        Assert.Equal([dep, top], written);
        var nixStore = "local?root=" + Path.Combine(t.Scratch, "nix-root");

        var result = await ProcessRunner.RunAsync("nix-store", ["--store", nixStore, "--import"], stdin: archive.ToArray());

        result.EnsureSuccess("nix-store --import");
        Assert.Equal([dep.FullPath, top.FullPath], result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        foreach (var path in written)
        {
            var info = await t.Store.GetPathInfoAsync(path, CancellationToken.None);
            Assert.Equal(info.NarHash.ToString(), await NixOracle.RunTextAsync("nix-store", "--store", nixStore, "-q", "--hash", path.FullPath));
        }

        Assert.Equal(dep.FullPath, await NixOracle.RunTextAsync("nix-store", "--store", nixStore, "-q", "--references", top.FullPath));
    }

    [Fact]
    public async Task AddSignatures_OurSignature_VerifiedByNixStoreVerify()
    {
        using var t = await TestStore.CreateAsync();
        var key = SigningKey.Generate("buildfarm-test-1");
        var dep = await t.Store.AddTextAsync("signed-dep.txt", "dep"u8.ToArray(), [], CancellationToken.None);
        var path = await t.Store.AddTextAsync("signed.txt", System.Text.Encoding.UTF8.GetBytes(dep.FullPath), [dep], CancellationToken.None);
        foreach (var p in new[] { dep, path })
            await t.Store.AddSignaturesAsync(p, [key.Sign((await t.Store.GetPathInfoAsync(p, CancellationToken.None)).Fingerprint)], CancellationToken.None);
        var archive = new MemoryStream();
        await ArchiveWriter.ExportAsync(t.Store, [path], archive, new ExportOptions(Closure: true), CancellationToken.None);
        var nixRoot = Path.Combine(t.Scratch, "nix-root");
        var nixStore = "local?root=" + nixRoot;
        (await ProcessRunner.RunAsync("nix-store", ["--store", nixStore, "--import"], stdin: archive.ToArray())).EnsureSuccess("nix-store --import");
        // A Nix export carries no signatures; put ours into Nix's database the way `nix store sign` would.
        var info = await t.Store.GetPathInfoAsync(path, CancellationToken.None);
        var db = Path.Combine(nixRoot, "nix", "var", "nix", "db", "db.sqlite");
        (await ProcessRunner.RunAsync("sqlite3", [db, $"UPDATE ValidPaths SET sigs = '{info.Signatures[0]}' WHERE path = '{path.FullPath}'"])).EnsureSuccess("sqlite3");

        var good = await ProcessRunner.RunAsync("nix", ["store", "verify", "--store", nixStore, "--sigs-needed", "1", "--trusted-public-keys", key.PublicKey.ToString(), path.FullPath]);
        var otherKey = SigningKey.Generate("buildfarm-test-1").PublicKey.ToString();
        var bad = await ProcessRunner.RunAsync("nix", ["store", "verify", "--store", nixStore, "--sigs-needed", "1", "--trusted-public-keys", otherKey, path.FullPath]);

        Assert.True(good.ExitCode == 0, good.Stderr);
        Assert.NotEqual(0, bad.ExitCode);
    }

    [Fact]
    public async Task ImportAsync_SignedArchiveFromAnotherStore_TrustedPathsValidWithSignatures()
    {
        using var from = await TestStore.CreateAsync();
        using var to = await TestStore.CreateAsync();
        var key = SigningKey.Generate("worker-1");
        var dep = await from.Store.AddPathAsync(from.MakeSampleTree("d", "signed"), CancellationToken.None);
        var top = await from.Store.AddTextAsync("t", System.Text.Encoding.UTF8.GetBytes(dep.FullPath), [dep], CancellationToken.None);
        foreach (var p in new[] { dep, top })
            await from.Store.AddSignaturesAsync(p, [key.Sign((await from.Store.GetPathInfoAsync(p, CancellationToken.None)).Fingerprint)], CancellationToken.None);
        var archive = new MemoryStream();
        await ArchiveWriter.ExportAsync(from.Store, [top], archive, new ExportOptions(ArchiveFormat.BuildFarmSigned, Closure: true), CancellationToken.None);
        var trusted = Path.Combine(to.Scratch, "trusted");
        await File.WriteAllTextAsync(trusted, key.PublicKey.ToString() + "\n");
        archive.Position = 0;

        var imported = await ArchiveImporter.ImportAsync(to.Store, archive, new ImportOptions(await TrustedKeys.LoadAsync(trusted, CancellationToken.None)), CancellationToken.None);

        Assert.Equal([dep, top], imported);
        Assert.Equal(from.DatabaseRows(), to.DatabaseRows().Select(r => r).ToList());
        Assert.Equal(from.PhysicalEntries(), to.PhysicalEntries());
    }
}
