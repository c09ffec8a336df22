using BuildFarm.Store.Local;
using BuildFarm.Store.Paths;
using BuildFarm.Store.Schema;
using BuildFarm.Testing;
using Microsoft.Data.Sqlite;

namespace BuildFarm.Store.Tests.Local;

/// <summary>Schema versions of the store database: an unversioned store is migrated in place, a newer one is refused.</summary>
public sealed class StoreSchemaTests
{
    /// <summary>The DDL every store ran before schema versions (StoreDatabase.Schema of commit acdc459), frozen.</summary>
    private const string UnversionedSchema = """
        CREATE TABLE IF NOT EXISTS ValidPaths (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            path TEXT UNIQUE NOT NULL,
            narHash TEXT NOT NULL,
            narSize INTEGER NOT NULL,
            deriver TEXT,
            registrationTime INTEGER NOT NULL);
        CREATE TABLE IF NOT EXISTS Refs (
            referrer INTEGER NOT NULL REFERENCES ValidPaths(id) ON DELETE CASCADE,
            reference INTEGER NOT NULL REFERENCES ValidPaths(id) ON DELETE RESTRICT,
            PRIMARY KEY (referrer, reference));
        CREATE INDEX IF NOT EXISTS RefsByReference ON Refs(reference);
        CREATE TABLE IF NOT EXISTS Sigs (
            pathId INTEGER NOT NULL REFERENCES ValidPaths(id) ON DELETE CASCADE,
            sig TEXT NOT NULL,
            PRIMARY KEY (pathId, sig));
        """;

    [Fact]
    public async Task OpenAsync_UnversionedStore_IsMigratedToTheLatestAndKeepsItsPaths()
    {
        using var temp = new TempDirectory("bf-store");
        var layout = StoreLayout.Create("/nix/store", temp.Combine("root"));
        var path = StorePath.Parse(layout.StoreDir, "/nix/store/00000000000000000000000000000000-old");
        var dbFile = Path.Combine(LocalStore.StateDirectory(layout), "store.db");
        Directory.CreateDirectory(Path.GetDirectoryName(dbFile)!);
        Directory.CreateDirectory(layout.PhysicalStoreDir);
        await File.WriteAllTextAsync(layout.PhysicalPath(path), "old\n");
        await ExecuteAsync(dbFile, UnversionedSchema + $"""
            INSERT INTO ValidPaths (path, narHash, narSize, registrationTime)
            VALUES ('{path.FullPath}', 'sha256:1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s', 120, 1700000000);
            INSERT INTO Sigs (pathId, sig) VALUES (1, 'old-1:c2ln');
            """);

        var store = await LocalStore.OpenAsync(layout);

        var info = await store.GetPathInfoAsync(path, CancellationToken.None);
        Assert.Equal(120, info.NarSize);
        Assert.Equal(["old-1:c2ln"], info.Signatures);
        Assert.True(File.Exists(layout.PhysicalPath(path)), "the migration must not count the valid path as a leftover");
        Assert.Equal(StoreDatabase.Migrations.Count, await VersionAsync(dbFile));
        // Version 2: a path never used since it was registered counts from its registration.
        var usage = Assert.Single(await store.ListUsageAsync(CancellationToken.None));
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(1700000000), usage.LastUsed);
        await store.TouchAsync([path], CancellationToken.None);
        Assert.True((await store.ListUsageAsync(CancellationToken.None))[0].LastUsed > DateTimeOffset.FromUnixTimeSeconds(1700000000));
    }

    [Fact]
    public async Task OpenAsync_StoreNewerThanTheCode_IsRefusedNamingBothVersions()
    {
        using var temp = new TempDirectory("bf-store");
        var layout = StoreLayout.Create("/nix/store", temp.Combine("root"));
        var dbFile = Path.Combine(LocalStore.StateDirectory(layout), "store.db");
        Directory.CreateDirectory(Path.GetDirectoryName(dbFile)!);
        var newer = StoreDatabase.Migrations.Count + 1;
        await ExecuteAsync(dbFile, UnversionedSchema + $"PRAGMA user_version = {newer};");

        var e = await Assert.ThrowsAsync<StoreException>(() => LocalStore.OpenAsync(layout));

        Assert.Contains($"store database {dbFile} has schema version {newer}", e.Message, StringComparison.Ordinal);
        Assert.Contains($"knows versions up to {StoreDatabase.Migrations.Count}", e.Message, StringComparison.Ordinal);
        Assert.IsType<SchemaVersionException>(e.InnerException);
        Assert.Equal(newer, await VersionAsync(dbFile));
    }

    [Fact]
    public async Task OpenAsync_NewStore_IsAtTheLatestVersion()
    {
        using var store = await TestStore.CreateAsync();
        Assert.Equal(StoreDatabase.Migrations.Count, await VersionAsync(store.Store.DatabasePath));
    }

    private static async Task ExecuteAsync(string file, string sql)
    {
        await using var connection = new SqliteConnection($"Data Source={file};Pooling=False");
        await connection.OpenAsync();
        await SchemaMigrations.ExecuteAsync(connection, null, sql, CancellationToken.None);
    }

    private static async Task<int> VersionAsync(string file)
    {
        await using var connection = new SqliteConnection($"Data Source={file};Pooling=False");
        await connection.OpenAsync();
        return await SchemaMigrations.VersionAsync(connection, null, CancellationToken.None);
    }
}
