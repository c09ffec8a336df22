using BuildFarm.Store.Hashing;
using BuildFarm.Store.Local;
using BuildFarm.Store.Paths;
using Microsoft.Data.Sqlite;

namespace BuildFarm.Store.NixDb;

/// <summary>
/// Reads Nix's own database (<c>/nix/var/nix/db/db.sqlite</c>, the schema of Nix 2.8: <c>ValidPaths</c>, <c>Refs</c>)
/// read-only. Nix keeps it in WAL mode, so these short reads never block nix-daemon's writers; a reader that meets a
/// lock (a non-WAL database, a checkpoint) waits up to the busy timeout instead of failing. Nothing here writes: the
/// only writes BuildFarm makes to Nix's database are <see cref="NixRegistration"/>'s and <see cref="NixSignatureWriter"/>'s.
/// </summary>
public sealed class NixDatabase
{
    private const int BusyTimeoutSeconds = 30;

    private readonly string _connectionString;

    public NixDatabase(string file, StoreDirectory storeDir)
    {
        File = file;
        StoreDir = storeDir;
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = file,
            Mode = SqliteOpenMode.ReadOnly,
            Pooling = true,
            DefaultTimeout = BusyTimeoutSeconds,
        }.ToString();
    }

    public string File { get; }

    public StoreDirectory StoreDir { get; }

    /// <summary><c>&lt;root&gt;&lt;parent of storeDir&gt;/var/nix/db/db.sqlite</c>, where Nix keeps it (e.g. <c>/nix/var/nix/db/db.sqlite</c>).</summary>
    public static string DefaultFile(StoreLayout layout)
    {
        var parent = Path.GetDirectoryName(layout.StoreDir.Path) ?? "/";
        return layout.Root + (parent == "/" ? "" : parent) + "/var/nix/db/db.sqlite";
    }

    public async Task<bool> IsValidAsync(StorePath path, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT 1 FROM ValidPaths WHERE path = $p";
        command.Parameters.AddWithValue("$p", path.FullPath);
        return await command.ExecuteScalarAsync(cancellationToken) is not null;
    }

    /// <summary>The path's row with its references, or null when it is not valid.</summary>
    public async Task<ValidPathInfo?> QueryPathInfoAsync(StorePath path, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        return await QueryAsync(connection, path, cancellationToken);
    }

    /// <summary>
    /// Every path reachable from <paramref name="roots"/>, roots included, with its row and references, sorted by
    /// path; a root that is not valid is an error. Two statements whatever the closure's size (<see cref="ClosureSql"/>),
    /// in one read transaction, so rows and references come from one snapshot of a database nix-daemon keeps writing.
    /// </summary>
    public async Task<IReadOnlyList<ValidPathInfo>> QueryClosureInfoAsync(IEnumerable<StorePath> roots, CancellationToken cancellationToken)
    {
        var wanted = roots.Distinct().ToList();
        if (wanted.Count == 0)
            return [];
        await using var connection = await OpenAsync(cancellationToken);
        await using var transaction = connection.BeginTransaction(deferred: true);
        var rootsJson = ClosureSql.RootsJson(wanted);
        var rows = new Dictionary<long, ValidPathInfo>();
        await ClosureSql.EachAsync(connection, transaction, ClosureSql.NixRows, rootsJson,
            r => rows[r.GetInt64(0)] = ReadRow(r, Parse(r.GetString(1), "a path in a closure"), first: 2), cancellationToken);
        if (ClosureSql.MissingRoot(wanted, rows.Values) is { } missing)
            throw new StoreException($"path '{missing}' is not valid in the Nix store (database {File})");

        var references = rows.Keys.ToDictionary(id => id, _ => new List<StorePath>());
        await ClosureSql.EachAsync(connection, transaction, ClosureSql.References, rootsJson,
            r => references[r.GetInt64(0)].Add(Parse(r.GetString(1), $"a reference of {rows[r.GetInt64(0)].Path}")), cancellationToken);
        return [.. rows.Select(r => r.Value with { References = [.. references[r.Key].Distinct().Order(StorePath.Ordinal)] }).OrderBy(i => i.Path, StorePath.Ordinal)];
    }

    private async Task<SqliteConnection> OpenAsync(CancellationToken cancellationToken)
    {
        if (!System.IO.File.Exists(File))
            throw new StoreException($"Nix's database {File} does not exist: is Nix installed and its store initialised (any nix-store command as root does it)?");
        var connection = new SqliteConnection(_connectionString);
        try
        {
            await connection.OpenAsync(cancellationToken);
            return connection;
        }
        catch (SqliteException e)
        {
            await connection.DisposeAsync();
            throw new StoreException($"cannot read Nix's database {File}: {e.Message} (reading it needs write access to its directory for SQLite's WAL index: run as root or the Nix store's owner)", e);
        }
    }

    private async Task<ValidPathInfo?> QueryAsync(SqliteConnection connection, StorePath path, CancellationToken cancellationToken)
    {
        long id;
        ValidPathInfo info;
        await using (var command = connection.CreateCommand())
        {
            command.CommandText = "SELECT id, hash, registrationTime, deriver, narSize, sigs, ca FROM ValidPaths WHERE path = $p";
            command.Parameters.AddWithValue("$p", path.FullPath);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            if (!await reader.ReadAsync(cancellationToken))
                return null;
            id = reader.GetInt64(0);
            info = ReadRow(reader, path, first: 1);
        }

        await using (var command = connection.CreateCommand())
        {
            command.CommandText = "SELECT v.path FROM Refs r JOIN ValidPaths v ON v.id = r.reference WHERE r.referrer = $id";
            command.Parameters.AddWithValue("$id", id);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            var references = new List<StorePath>();
            while (await reader.ReadAsync(cancellationToken))
                references.Add(Parse(reader.GetString(0), $"a reference of {path}"));
            return info with { References = [.. references.Distinct().Order(StorePath.Ordinal)] };
        }
    }

    /// <summary>The path's row without its references: the columns hash, registrationTime, deriver, narSize, sigs, ca from <paramref name="first"/> on.</summary>
    private ValidPathInfo ReadRow(SqliteDataReader reader, StorePath path, int first)
    {
        var hashText = reader.GetString(first);
        // Nix stores "sha256:<hex>"; NixHash reads hex, nix32 and base64 bodies alike.
        if (!NixHash.TryParse(hashText, out var narHash))
            throw new StoreException($"Nix's database {File} gives '{path}' a hash this store cannot read: '{hashText}' (only sha256 is supported)");
        var deriver = reader.IsDBNull(first + 2) ? null : reader.GetString(first + 2);
        var sigs = reader.IsDBNull(first + 4) ? "" : reader.GetString(first + 4);
        return new ValidPathInfo(
            path,
            narHash,
            reader.IsDBNull(first + 3) ? 0 : reader.GetInt64(first + 3),
            [],
            string.IsNullOrEmpty(deriver) ? null : Parse(deriver, $"the deriver of {path}"),
            [.. sigs.Split(' ', StringSplitOptions.RemoveEmptyEntries)],
            DateTimeOffset.FromUnixTimeSeconds(reader.GetInt64(first + 1)))
        {
            ContentAddress = reader.IsDBNull(first + 5) || reader.GetString(first + 5).Length == 0 ? null : reader.GetString(first + 5),
        };
    }

    private StorePath Parse(string text, string what) =>
        StorePath.TryParse(StoreDir, text, out var path, out var error) ? path!
            : throw new StoreException($"Nix's database {File} has {what} that is not a path of {StoreDir.Path}: {error}");
}
