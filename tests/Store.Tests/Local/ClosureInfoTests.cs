using BuildFarm.Store.Archives;
using BuildFarm.Store.Local;
using BuildFarm.Store.Paths;
using BuildFarm.Store.Signing;
using BuildFarm.Store.Tests.NixDb;
using BuildFarm.Testing;

namespace BuildFarm.Store.Tests.Local;

/// <summary>
/// <see cref="IStore.QueryClosureInfoAsync"/> (one recursive query) gives what a walk of <see cref="IStore.GetPathInfoAsync"/>
/// per path gives, in both stores: BuildFarm's own and Nix's database as Nix 2.8 writes it.
/// </summary>
public sealed class ClosureInfoTests
{
    private static readonly CancellationToken None = CancellationToken.None;

    [Fact]
    public async Task QueryClosureInfoAsync_LocalStoreChainWithSignatures_EqualsEachPathsInfo()
    {
        using var t = await TestStore.CreateAsync();
        var (bottom, middle, top) = await AddChainAsync(t);
        await t.Store.AddSignaturesAsync(middle, [SigningKey.Generate("k-1").Sign(middle.FullPath), "k-0:" + Convert.ToBase64String(new byte[64])], None);

        var closure = await t.Store.QueryClosureInfoAsync([top, middle], None);

        Assert.Equal(new[] { bottom, middle, top }.Order(StorePath.Ordinal), closure.Select(i => i.Path));
        foreach (var info in closure)
            AssertSame(await t.Store.GetPathInfoAsync(info.Path, None), info);
        Assert.Equal(2, closure.Single(i => i.Path == middle).Signatures.Count);
        Assert.Equal(closure.Select(i => i.Path), await t.Store.QueryClosureAsync([top], None));
    }

    [Fact]
    public async Task QueryClosureInfoAsync_RootNotValid_FailsNamingIt()
    {
        using var t = await TestStore.CreateAsync();
        var (_, _, top) = await AddChainAsync(t);
        var missing = t.Store.ParsePath(top.FullPath[..^1] + (top.FullPath[^1] == 'z' ? "y" : "z"));

        var e = await Assert.ThrowsAsync<StoreException>(() => t.Store.QueryClosureInfoAsync([top, missing], None));

        Assert.Contains(missing.FullPath, e.Message);
    }

    [Fact]
    public async Task QueryClosureInfoAsync_NixStoreImportedChain_EqualsEachPathsInfo()
    {
        var (nix, seed) = await NixTestStore.CreatePrivateAsync();
        using var _ = nix;
        using var local = await nix.CreateLocalAsync();
        var (bottom, middle, top) = await AddChainAsync(local);
        var archive = new MemoryStream();
        await ArchiveWriter.ExportAsync(local.Store, [top], archive, new ExportOptions(Closure: true), None);
        (await ProcessRunner.RunAsync("nix-store", ["--store", nix.Uri, "--import"], archive.ToArray())).EnsureSuccess("nix-store --import");

        var closure = await nix.Store.QueryClosureInfoAsync([top, seed], None);

        Assert.Equal(new[] { seed, bottom, middle, top }.Order(StorePath.Ordinal), closure.Select(i => i.Path));
        foreach (var info in closure)
            AssertSame(await nix.Store.GetPathInfoAsync(info.Path, None), info);
        var missing = nix.Store.ParsePath(top.FullPath[..^1] + (top.FullPath[^1] == 'z' ? "y" : "z"));
        var e = await Assert.ThrowsAsync<StoreException>(() => nix.Store.QueryClosureInfoAsync([missing], None));
        Assert.Contains(missing.FullPath, e.Message);
    }

    // The bundled SQLite's planner chose full scans of ValidPaths and Refs for these statements once (CROSS JOIN now
    // fixes the order); a plan that scans anything but the roots (r) and the closure (c) fails here, whatever the
    // store's size.
    [Fact]
    public async Task ClosureSql_PlansOnBothSchemas_ScanOnlyRootsAndClosure()
    {
        var (nix, _) = await NixTestStore.CreatePrivateAsync();
        using var __ = nix;
        using var local = await nix.CreateLocalAsync();
        var statements = new[]
        {
            (BuildFarm.Store.NixDb.NixDatabase.DefaultFile(nix.Store.Layout), ClosureSql.NixRows),
            (BuildFarm.Store.NixDb.NixDatabase.DefaultFile(nix.Store.Layout), ClosureSql.References),
            (local.Store.DatabasePath, ClosureSql.LocalRows),
            (local.Store.DatabasePath, ClosureSql.References),
            (local.Store.DatabasePath, ClosureSql.LocalSignatures),
        };

        foreach (var (file, sql) in statements)
        {
            await using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={file};Mode=ReadOnly");
            await connection.OpenAsync();
            await using var command = connection.CreateCommand();
            command.CommandText = "EXPLAIN QUERY PLAN " + sql;
            command.Parameters.AddWithValue("$roots", "[]");
            var plan = new List<string>();
            await using (var reader = await command.ExecuteReaderAsync())
            {
                while (await reader.ReadAsync())
                    plan.Add(reader.GetString(3));
            }

            Assert.All(plan.Where(step => step.StartsWith("SCAN ", StringComparison.Ordinal)), step =>
                Assert.True(step.StartsWith("SCAN r ", StringComparison.Ordinal) || step == "SCAN c", $"{step} in the plan of {sql}:\n{string.Join('\n', plan)}"));
        }
    }

    private static void AssertSame(ValidPathInfo expected, ValidPathInfo actual)
    {
        Assert.Equal(expected.Path, actual.Path);
        Assert.Equal(expected.NarHash, actual.NarHash);
        Assert.Equal(expected.NarSize, actual.NarSize);
        Assert.Equal(expected.References, actual.References);
        Assert.Equal(expected.Deriver, actual.Deriver);
        Assert.Equal(expected.Signatures, actual.Signatures);
        Assert.Equal(expected.RegistrationTime, actual.RegistrationTime);
        Assert.Equal(expected.ContentAddress, actual.ContentAddress);
    }

    /// <summary>bottom ← middle ← top, each referring to the one below.</summary>
    private static async Task<(StorePath Bottom, StorePath Middle, StorePath Top)> AddChainAsync(TestStore store)
    {
        var bottom = await store.Store.AddPathAsync(store.MakeSampleTree("b", Guid.NewGuid().ToString("N")), None);
        var middle = await store.Store.AddTextAsync("m", System.Text.Encoding.UTF8.GetBytes(bottom.FullPath), [bottom], None);
        var top = await store.Store.AddTextAsync("t", System.Text.Encoding.UTF8.GetBytes(middle.FullPath), [middle], None);
        return (bottom, middle, top);
    }
}
