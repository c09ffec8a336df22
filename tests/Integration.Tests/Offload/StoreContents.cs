using BuildFarm.Testing;

namespace BuildFarm.Integration.Tests.Offload;

/// <summary>
/// What a BuildFarm store (logical /nix/store under a physical root) holds: its valid paths with NAR hashes from the
/// SQLite database (read by the sqlite3 CLI, read-only) and the entries of its physical store directory.
/// </summary>
internal sealed record StoreContents(IReadOnlyDictionary<string, string> ValidPaths, IReadOnlyList<string> Entries)
{
    public const string StoreDir = "/nix/store";

    public static async Task<StoreContents> ReadAsync(string root)
    {
        var db = Path.Combine(root, "nix", "var", "buildfarm", "store.db");
        var valid = new Dictionary<string, string>(StringComparer.Ordinal);
        if (File.Exists(db))
        {
            var result = await ProcessRunner.RunAsync("sqlite3", ["-readonly", "-separator", " ", db, "SELECT path, narHash FROM ValidPaths ORDER BY path"]);
            result.EnsureSuccess("sqlite3 " + db);
            foreach (var line in result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                var parts = line.Split(' ');
                valid[parts[0]] = parts[1];
            }
        }

        var physical = Path.Combine(root, "nix", "store");
        var entries = Directory.Exists(physical)
            ? Directory.EnumerateFileSystemEntries(physical).Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal).ToArray()
            : [];
        return new StoreContents(valid, entries);
    }

    /// <summary>A one-line-per-path description for failure messages and equality checks.</summary>
    public string Describe() =>
        string.Join('\n', ValidPaths.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key} {p.Value}"))
        + "\nentries: " + string.Join(' ', Entries);
}
