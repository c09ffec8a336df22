using BuildFarm.Store.Local;
using BuildFarm.Testing;

namespace BuildFarm.Store.Tests.Local;

/// <summary>The local store against the real Nix: same paths, same NAR hashes.</summary>
public sealed class LocalStoreNixTests
{
    [Fact]
    public async Task AddPath_Directory_SamePathAndHashAsNixStoreAdd()
    {
        using var t = await TestStore.CreateAsync();
        var source = t.MakeSampleTree("tree", Guid.NewGuid().ToString("N"));

        var path = await t.Store.AddPathAsync(source, CancellationToken.None);

        var nixPath = await NixOracle.RunTextAsync("nix-store", "--add", source);
        Assert.Equal(nixPath, path.FullPath);
        var info = await t.Store.GetPathInfoAsync(path, CancellationToken.None);
        Assert.Equal(await NixOracle.RunTextAsync("nix-store", "-q", "--hash", nixPath), info.NarHash.ToString());
        Assert.Equal(await NixOracle.RunTextAsync("nix-store", "-q", "--size", nixPath), info.NarSize.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Empty(info.References);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead, File.GetUnixFileMode(Path.Combine(t.Store.PhysicalPath(path), "hello.txt")));
    }

    [Fact]
    public async Task AddPath_SingleFile_SamePathAsNixStoreAdd()
    {
        using var t = await TestStore.CreateAsync();
        var file = Path.Combine(t.Scratch, "note.txt");
        await File.WriteAllTextAsync(file, "note " + Guid.NewGuid());

        var path = await t.Store.AddPathAsync(file, CancellationToken.None);

        Assert.Equal(await NixOracle.RunTextAsync("nix-store", "--add", file), path.FullPath);
    }

    [Fact]
    public async Task AddText_WithReference_SamePathAsBuiltinsToFile()
    {
        using var t = await TestStore.CreateAsync();
        var source = t.MakeSampleTree("dep", Guid.NewGuid().ToString("N"));
        var dep = await t.Store.AddPathAsync(source, CancellationToken.None);
        var expr = $"builtins.toFile \"greeting.txt\" \"uses ${{{source}}}\\n\"";
        var nixPath = (await NixOracle.RunTextAsync("nix-instantiate", "--eval", "--read-write-mode", "-E", expr)).Trim('"');

        var text = await t.Store.AddTextAsync("greeting.txt", System.Text.Encoding.UTF8.GetBytes($"uses {dep.FullPath}\n"), [dep], CancellationToken.None);

        Assert.Equal(nixPath, text.FullPath);
        var info = await t.Store.GetPathInfoAsync(text, CancellationToken.None);
        Assert.Equal([dep], info.References);
        Assert.Equal(await NixOracle.RunTextAsync("nix-store", "-q", "--hash", nixPath), info.NarHash.ToString());
        Assert.Equal([text], await t.Store.QueryReferrersAsync(dep, CancellationToken.None));
        Assert.Equal(new[] { dep, text }.Order(BuildFarm.Store.Paths.StorePath.Ordinal), await t.Store.QueryClosureAsync([text], CancellationToken.None));
    }

    [Fact]
    public async Task RegisterOutput_BuiltInPlace_CanonicalisedHashedAndReferencesScanned()
    {
        using var t = await TestStore.CreateAsync();
        var dep = await t.Store.AddTextAsync("dep.txt", "dep"u8.ToArray(), [], CancellationToken.None);
        var unrelated = await t.Store.AddTextAsync("unrelated.txt", "unrelated"u8.ToArray(), [], CancellationToken.None);
        var output = t.Store.ParsePath("/nix/store/" + new string('a', 32).Replace('a', '1') + "-out");
        using (await t.Store.LockPathAsync(output, CancellationToken.None))
        {
            var physical = t.Store.PhysicalPath(output);
            Directory.CreateDirectory(Path.Combine(physical, "bin"));
            await File.WriteAllTextAsync(Path.Combine(physical, "bin", "tool"), $"#!/bin/sh\nexec {dep.FullPath}/x {output.FullPath}\n");
            File.SetUnixFileMode(Path.Combine(physical, "bin", "tool"), (UnixFileMode)0b111_111_111);

            // Another process opening the store meanwhile must leave the locked, unregistered output alone.
            _ = await t.ReopenAsync();
            Assert.True(Directory.Exists(physical));

            var info = await t.Store.RegisterOutputAsync(output, [dep, unrelated], null, CancellationToken.None);

            Assert.Equal([output, dep], info.References);
            Assert.Equal((UnixFileMode)0b101_101_101, File.GetUnixFileMode(Path.Combine(physical, "bin", "tool")));
            Assert.Equal(DateTime.UnixEpoch.AddSeconds(1), File.GetLastWriteTimeUtc(Path.Combine(physical, "bin", "tool")));
            Assert.Equal("sha256:" + await NixOracle.HashPathAsync(physical), info.NarHash.ToString());
        }
    }
}
