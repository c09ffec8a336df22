using BuildFarm.Store.Paths;
using Microsoft.Data.Sqlite;

namespace BuildFarm.Store.Local;

/// <summary>
/// The statements that read a closure in one walk of a store database, for both schemas that have <c>ValidPaths(id,
/// path)</c> and <c>Refs(referrer, reference)</c>: Nix's own and BuildFarm's. The roots are one JSON array parameter
/// (<c>$roots</c>, read with <c>json_each</c>): any number of them, one statement text.
/// </summary>
/// <remarks>
/// CROSS JOIN fixes SQLite's join order: the closure drives and every other table is searched by its index. With plain
/// joins the bundled SQLite (3.49) plans a scan of the whole of <c>ValidPaths</c> or <c>Refs</c> probing the closure:
/// ~40 and ~90 ms on a 95,000-path Nix store instead of under 1 ms. ClosureInfoTests checks the plans.
/// </remarks>
internal static class ClosureSql
{
    private const string Closure = """
        WITH RECURSIVE closure(id) AS (
            SELECT v.id FROM json_each($roots) r CROSS JOIN ValidPaths v ON v.path = r.value
            UNION
            SELECT f.reference FROM closure c CROSS JOIN Refs f ON f.referrer = c.id)
        """;

    /// <summary>Nix's rows: id, path, then hash, registrationTime, deriver, narSize, sigs, ca.</summary>
    public const string NixRows = Closure + " SELECT v.id, v.path, v.hash, v.registrationTime, v.deriver, v.narSize, v.sigs, v.ca FROM closure c CROSS JOIN ValidPaths v ON v.id = c.id";

    /// <summary>BuildFarm's rows: id, path, narHash, narSize, deriver, registrationTime.</summary>
    public const string LocalRows = Closure + " SELECT v.id, v.path, v.narHash, v.narSize, v.deriver, v.registrationTime FROM closure c CROSS JOIN ValidPaths v ON v.id = c.id";

    /// <summary>Every reference of the closure's paths: referrer id, reference path.</summary>
    public const string References = Closure + " SELECT f.referrer, v.path FROM closure c CROSS JOIN Refs f ON f.referrer = c.id CROSS JOIN ValidPaths v ON v.id = f.reference";

    /// <summary>BuildFarm's signatures of the closure's paths: path id, signature.</summary>
    public const string LocalSignatures = Closure + " SELECT s.pathId, s.sig FROM closure c CROSS JOIN Sigs s ON s.pathId = c.id";

    /// <summary>Runs one of the statements above for <paramref name="roots"/> (from <see cref="RootsJson"/>), calling <paramref name="row"/> per row.</summary>
    public static async Task EachAsync(SqliteConnection connection, SqliteTransaction? transaction, string sql, string roots, Action<SqliteDataReader> row, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        command.Parameters.AddWithValue("$roots", roots);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
            row(reader);
    }

    /// <summary>The first of <paramref name="wanted"/> that is not among <paramref name="found"/>'s paths, if any.</summary>
    public static StorePath? MissingRoot(IEnumerable<StorePath> wanted, IEnumerable<ValidPathInfo> found)
    {
        var paths = found.Select(i => i.Path).ToHashSet();
        return wanted.FirstOrDefault(r => !paths.Contains(r));
    }

    /// <summary>The <c>$roots</c> parameter: the roots' full paths as a JSON array.</summary>
    public static string RootsJson(IEnumerable<StorePath> roots)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var json = new System.Text.Json.Utf8JsonWriter(buffer))
        {
            json.WriteStartArray();
            foreach (var root in roots)
                json.WriteStringValue(root.FullPath);
            json.WriteEndArray();
        }

        return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
    }
}
