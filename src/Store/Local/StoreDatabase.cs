using BuildFarm.Store.Hashing;
using BuildFarm.Store.Paths;
using BuildFarm.Store.Schema;
using Microsoft.Data.Sqlite;

namespace BuildFarm.Store.Local;

/// <summary>
/// The SQLite metadata of a store: one row per valid path, its references and signatures. WAL mode lets readers
/// run beside one writer across processes; writers serialise on <c>BEGIN IMMEDIATE</c> and wait (busy timeout)
/// instead of failing. A connection per operation (pooled) keeps the store usable from several threads.
/// </summary>
internal sealed class StoreDatabase(string file, StoreDirectory storeDir)
{
    private const int BusyTimeoutSeconds = 60;

    /// <summary>Version 1: the schema every store had before versions were recorded (unversioned stores are at version 0).</summary>
    private const string Version1 = """
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

    private readonly string _connectionString = new SqliteConnectionStringBuilder
    {
        DataSource = file,
        Mode = SqliteOpenMode.ReadWriteCreate,
        Pooling = true,
        DefaultTimeout = BusyTimeoutSeconds,
    }.ToString();

    public string File { get; } = file;

    public StoreDirectory StoreDir { get; } = storeDir;

    /// <summary>The schema's steps, oldest first; a new schema is a new step at the end, never an edit of a released one.</summary>
    public static IReadOnlyList<Migration> Migrations { get; } =
    [
        Migration.Sql(1, "valid paths, references and signatures", Version1),
        Migration.Sql(2, "when each path was last used (a build input or fetched); null = its registration time",
            "ALTER TABLE ValidPaths ADD COLUMN lastUsed INTEGER;"),
    ];

    /// <summary>
    /// Creates or migrates the schema (see <see cref="SchemaMigrations"/>); a database written by a newer buildfarm is
    /// refused with a <see cref="StoreException"/> that says so.
    /// </summary>
    public async Task MigrateAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        await ExecuteAsync(connection, null, "PRAGMA journal_mode=WAL;", cancellationToken);
        try
        {
            await SchemaMigrations.MigrateAsync(connection, Migrations, $"store database {File}", cancellationToken);
        }
        catch (SchemaVersionException e)
        {
            throw new StoreException(e.Message, e);
        }
    }

    public async Task<SqliteConnection> OpenAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(_connectionString);
        await connection.OpenAsync(cancellationToken);
        await ExecuteAsync(connection, null, $"PRAGMA busy_timeout={BusyTimeoutSeconds * 1000}; PRAGMA foreign_keys=ON;", cancellationToken);
        return connection;
    }

    /// <summary>A write transaction: <c>BEGIN IMMEDIATE</c>, so it holds the writer lock from its first statement.</summary>
    public static SqliteTransaction BeginWrite(SqliteConnection connection) =>
        connection.BeginTransaction(System.Data.IsolationLevel.Serializable, deferred: false);

    private static Task ExecuteAsync(SqliteConnection connection, SqliteTransaction? transaction, string sql, CancellationToken cancellationToken) =>
        SchemaMigrations.ExecuteAsync(connection, transaction, sql, cancellationToken);

    public static async Task<long?> PathIdAsync(SqliteConnection connection, SqliteTransaction? transaction, StorePath path, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = "SELECT id FROM ValidPaths WHERE path = $p";
        command.Parameters.AddWithValue("$p", path.FullPath);
        return await command.ExecuteScalarAsync(cancellationToken) is long id ? id : null;
    }

    public async Task<ValidPathInfo?> QueryAsync(SqliteConnection connection, SqliteTransaction? transaction, StorePath path, CancellationToken cancellationToken)
    {
        long id;
        NixHash narHash;
        long narSize;
        StorePath? deriver;
        DateTimeOffset registered;
        await using (var command = connection.CreateCommand())
        {
            command.Transaction = transaction;
            command.CommandText = "SELECT id, narHash, narSize, deriver, registrationTime FROM ValidPaths WHERE path = $p";
            command.Parameters.AddWithValue("$p", path.FullPath);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            if (!await reader.ReadAsync(cancellationToken))
                return null;
            id = reader.GetInt64(0);
            narHash = NixHash.Parse(reader.GetString(1));
            narSize = reader.GetInt64(2);
            deriver = reader.IsDBNull(3) ? null : StorePath.Parse(StoreDir, reader.GetString(3));
            registered = DateTimeOffset.FromUnixTimeSeconds(reader.GetInt64(4));
        }

        var references = await StringsAsync(connection, transaction, "SELECT v.path FROM Refs r JOIN ValidPaths v ON v.id = r.reference WHERE r.referrer = $id", id, cancellationToken);
        var sigs = await StringsAsync(connection, transaction, "SELECT sig FROM Sigs WHERE pathId = $id", id, cancellationToken);
        return new ValidPathInfo(
            path,
            narHash,
            narSize,
            [.. references.Select(r => StorePath.Parse(StoreDir, r)).Order(StorePath.Ordinal)],
            deriver,
            [.. sigs.Order(StringComparer.Ordinal)],
            registered);
    }

    /// <summary>
    /// Every valid path reachable from <paramref name="roots"/> with its row, references and signatures, sorted by path;
    /// the roots that are not valid are left out (the caller names them). Three statements whatever the closure's size
    /// (<see cref="ClosureSql"/>); give a transaction for one snapshot.
    /// </summary>
    public async Task<IReadOnlyList<ValidPathInfo>> ClosureAsync(SqliteConnection connection, SqliteTransaction? transaction, IReadOnlyCollection<StorePath> roots, CancellationToken cancellationToken)
    {
        var rootsJson = ClosureSql.RootsJson(roots);
        var rows = new Dictionary<long, (StorePath Path, NixHash NarHash, long NarSize, StorePath? Deriver, DateTimeOffset Registered)>();
        var references = new Dictionary<long, List<StorePath>>();
        var sigs = new Dictionary<long, List<string>>();
        await ClosureSql.EachAsync(connection, transaction, ClosureSql.LocalRows, rootsJson, r =>
        {
            var id = r.GetInt64(0);
            rows[id] = (StorePath.Parse(StoreDir, r.GetString(1)), NixHash.Parse(r.GetString(2)), r.GetInt64(3),
                r.IsDBNull(4) ? null : StorePath.Parse(StoreDir, r.GetString(4)), DateTimeOffset.FromUnixTimeSeconds(r.GetInt64(5)));
            references[id] = [];
            sigs[id] = [];
        }, cancellationToken);
        await ClosureSql.EachAsync(connection, transaction, ClosureSql.References, rootsJson,
            r => references[r.GetInt64(0)].Add(StorePath.Parse(StoreDir, r.GetString(1))), cancellationToken);
        await ClosureSql.EachAsync(connection, transaction, ClosureSql.LocalSignatures, rootsJson,
            r => sigs[r.GetInt64(0)].Add(r.GetString(1)), cancellationToken);

        return [.. rows.Select(r => new ValidPathInfo(
                r.Value.Path,
                r.Value.NarHash,
                r.Value.NarSize,
                [.. references[r.Key].Order(StorePath.Ordinal)],
                r.Value.Deriver,
                [.. sigs[r.Key].Order(StringComparer.Ordinal)],
                r.Value.Registered))
            .OrderBy(i => i.Path, StorePath.Ordinal)];
    }

    public async Task<IReadOnlyList<StorePath>> ReferrersAsync(SqliteConnection connection, SqliteTransaction? transaction, StorePath path, CancellationToken cancellationToken)
    {
        var id = await PathIdAsync(connection, transaction, path, cancellationToken);
        if (id is null)
            return [];
        var rows = await StringsAsync(connection, transaction, "SELECT v.path FROM Refs r JOIN ValidPaths v ON v.id = r.referrer WHERE r.reference = $id", id.Value, cancellationToken);
        return [.. rows.Select(r => StorePath.Parse(StoreDir, r)).Order(StorePath.Ordinal)];
    }

    public static async Task<HashSet<string>> AllPathsAsync(SqliteConnection connection, SqliteTransaction? transaction, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = "SELECT path FROM ValidPaths";
        var result = new HashSet<string>(StringComparer.Ordinal);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
            result.Add(reader.GetString(0));
        return result;
    }

    private static async Task<List<string>> StringsAsync(SqliteConnection connection, SqliteTransaction? transaction, string sql, long id, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        command.Parameters.AddWithValue("$id", id);
        var result = new List<string>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
            result.Add(reader.GetString(0));
        return result;
    }
}
