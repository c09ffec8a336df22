using BuildFarm.Store.Local;

namespace BuildFarm.Store.Tests.Local;

public sealed class LocalStoreLifecycleTests
{
    [Fact]
    public async Task Open_CreatesDatabaseUnderParentOfStoreDir()
    {
        using var t = await TestStore.CreateAsync();

        Assert.Equal(Path.Combine(t.Layout.Root, "nix", "var", "buildfarm", "store.db"), t.Store.DatabasePath);
        Assert.True(File.Exists(t.Store.DatabasePath));
    }

    [Fact]
    public async Task Open_InvalidLeftoversAndTempEntries_DeletedValidPathsKept()
    {
        using var t = await TestStore.CreateAsync();
        var valid = await t.Store.AddTextAsync("keep.txt", "keep"u8.ToArray(), [], CancellationToken.None);
        var crashedRename = Path.Combine(t.Layout.PhysicalStoreDir, new string('2', 32) + "-crashed");
        Directory.CreateDirectory(Path.Combine(crashedRename, "sub"));
        File.WriteAllText(Path.Combine(crashedRename, "sub", "f"), "x");
        File.SetUnixFileMode(Path.Combine(crashedRename, "sub"), (UnixFileMode)0b101_101_101);
        File.SetUnixFileMode(crashedRename, (UnixFileMode)0b101_101_101);
        var crashedTemp = Path.Combine(t.Layout.PhysicalStoreDir, ".tmp-0123456789abcdef");
        File.WriteAllText(crashedTemp, "partial");

        _ = await t.ReopenAsync();

        Assert.Equal([valid.BaseName], t.PhysicalEntries());
        Assert.True(await t.Store.IsValidAsync(valid, CancellationToken.None));
    }

    [Fact]
    public async Task Open_LiveStagedEntryOfAnotherStore_Kept()
    {
        using var t = await TestStore.CreateAsync();
        using var staged = t.Store.CreateStagedPath();
        File.WriteAllText(staged.PhysicalPath, "being written");

        _ = await t.ReopenAsync();

        Assert.True(File.Exists(staged.PhysicalPath));
    }

    [Fact]
    public async Task Open_NonEmptyStoreDirWithoutDatabase_Refused()
    {
        using var temp = new BuildFarm.Testing.TempDirectory("bf-store");
        var layout = BuildFarm.Store.Paths.StoreLayout.Create("/nix/store", temp.Combine("root"));
        Directory.CreateDirectory(layout.PhysicalStoreDir);
        File.WriteAllText(Path.Combine(layout.PhysicalStoreDir, new string('3', 32) + "-precious"), "not ours");

        var error = await Assert.ThrowsAsync<StoreException>(() => LocalStore.OpenAsync(layout));

        Assert.Contains("refusing", error.Message, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(layout.PhysicalStoreDir, new string('3', 32) + "-precious")));
    }

    [Fact]
    public async Task AddPath_SameContentFromTwoStoresConcurrently_OneValidPathNoLeftovers()
    {
        using var t = await TestStore.CreateAsync();
        var other = await t.ReopenAsync();
        var source = t.MakeSampleTree("same", "concurrent");

        var results = await Task.WhenAll(
            Task.Run(() => t.Store.AddPathAsync(source, CancellationToken.None)),
            Task.Run(() => other.AddPathAsync(source, CancellationToken.None)),
            Task.Run(() => t.Store.AddPathAsync(source, CancellationToken.None)),
            Task.Run(() => other.AddPathAsync(source, CancellationToken.None)));

        Assert.Single(results.Distinct());
        Assert.Equal([results[0].BaseName], t.PhysicalEntries());
        Assert.Single(t.DatabaseRows());
    }

    [Fact]
    public async Task Delete_ReferencedPath_RefusedUnreferencedDeleted()
    {
        using var t = await TestStore.CreateAsync();
        var dep = await t.Store.AddTextAsync("dep", "d"u8.ToArray(), [], CancellationToken.None);
        var top = await t.Store.AddTextAsync("top", "t"u8.ToArray(), [dep], CancellationToken.None);

        var error = await Assert.ThrowsAsync<StoreException>(() => t.Store.DeleteAsync(dep, CancellationToken.None));
        Assert.Contains(top.FullPath, error.Message, StringComparison.Ordinal);

        await t.Store.DeleteAsync(top, CancellationToken.None);
        await t.Store.DeleteAsync(dep, CancellationToken.None);
        Assert.Empty(t.PhysicalEntries());
        Assert.Empty(t.DatabaseRows());
    }

    [Fact]
    public async Task AddText_MissingReference_RefusedNothingWritten()
    {
        using var t = await TestStore.CreateAsync();
        var missing = t.Store.ParsePath("/nix/store/" + new string('4', 32) + "-missing");

        var error = await Assert.ThrowsAsync<StoreException>(() => t.Store.AddTextAsync("x", "x"u8.ToArray(), [missing], CancellationToken.None));

        Assert.Contains(missing.FullPath, error.Message, StringComparison.Ordinal);
        Assert.Empty(t.PhysicalEntries());
        Assert.Empty(t.DatabaseRows());
    }
}
