using BuildFarm.Store.Local;
using BuildFarm.Store.Paths;
using BuildFarm.Testing;
using Microsoft.Data.Sqlite;

namespace BuildFarm.Store.Tests.Local;

/// <summary>A LocalStore for /nix/store rooted in a fresh temp directory, plus ways to look at it from outside.</summary>
internal sealed class TestStore : IDisposable
{
    private readonly TempDirectory _temp;

    private TestStore(TempDirectory temp, StoreLayout layout, LocalStore store)
    {
        _temp = temp;
        Layout = layout;
        Store = store;
    }

    public StoreLayout Layout { get; }

    public LocalStore Store { get; }

    /// <summary>A scratch directory outside the store.</summary>
    public string Scratch => _temp.Combine("scratch");

    public static async Task<TestStore> CreateAsync(string storeDir = "/nix/store")
    {
        var temp = new TempDirectory("bf-store");
        Directory.CreateDirectory(temp.Combine("scratch"));
        var layout = StoreLayout.Create(storeDir, temp.Combine("root"));
        return new TestStore(temp, layout, await LocalStore.OpenAsync(layout));
    }

    public Task<LocalStore> ReopenAsync() => LocalStore.OpenAsync(Layout);

    /// <summary>Names in the physical store directory, sorted (temp entries included).</summary>
    public IReadOnlyList<string> PhysicalEntries() =>
        [.. Directory.EnumerateFileSystemEntries(Layout.PhysicalStoreDir).Select(Path.GetFileName).Order(StringComparer.Ordinal)!];

    /// <summary>Every row of the database as text, for before/after comparisons.</summary>
    public IReadOnlyList<string> DatabaseRows()
    {
        using var connection = new SqliteConnection($"Data Source={Store.DatabasePath};Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT 'path ' || path || ' ' || narHash || ' ' || narSize || ' ' || ifnull(deriver, '-') FROM ValidPaths
            UNION ALL SELECT 'ref ' || a.path || ' -> ' || b.path FROM Refs r JOIN ValidPaths a ON a.id = r.referrer JOIN ValidPaths b ON b.id = r.reference
            UNION ALL SELECT 'sig ' || v.path || ' ' || s.sig FROM Sigs s JOIN ValidPaths v ON v.id = s.pathId
            """;
        using var reader = command.ExecuteReader();
        var rows = new List<string>();
        while (reader.Read())
            rows.Add(reader.GetString(0));
        return [.. rows.Order(StringComparer.Ordinal)];
    }

    /// <summary>Writes a small tree: a file, an executable, a symlink and a subdirectory.</summary>
    public string MakeSampleTree(string name, string salt)
    {
        var dir = Path.Combine(Scratch, name);
        Directory.CreateDirectory(Path.Combine(dir, "sub"));
        File.WriteAllText(Path.Combine(dir, "hello.txt"), "hello " + salt + "\n");
        File.WriteAllText(Path.Combine(dir, "sub", "run.sh"), "#!/bin/sh\necho " + salt + "\n");
        File.SetUnixFileMode(Path.Combine(dir, "sub", "run.sh"), (UnixFileMode)0b111_101_101);
        File.CreateSymbolicLink(Path.Combine(dir, "link"), "hello.txt");
        return dir;
    }

    public void Dispose() => _temp.Dispose();
}
