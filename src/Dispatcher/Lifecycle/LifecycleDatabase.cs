using BuildFarm.Store.Schema;
using Microsoft.Data.Sqlite;

namespace BuildFarm.Dispatcher.Lifecycle;

/// <summary>
/// The SQLite database (WAL) behind the lifecycle. Every operation runs in one transaction under one gate: the
/// dispatcher is the single writer, and serialising the state machine makes each event's transition atomic.
/// </summary>
internal sealed class LifecycleDatabase : IAsyncDisposable
{
    // Prepared statements by SQL text, reused by every transaction: preparing was a large part of each event's cost.
    // Only used under _gate (one session at a time); bounded, since a few callers build their SQL (searches, filters).
    private const int MaxStatements = 256;
    private readonly Dictionary<string, SqliteCommand> _statements = new(StringComparer.Ordinal);
    private readonly SqliteConnection _connection;
    private readonly SemaphoreSlim _gate = new(1, 1);

    private LifecycleDatabase(SqliteConnection connection) => _connection = connection;

    /// <summary>Opens the database, creating or migrating its schema; one written by a newer dispatcher is refused (<see cref="SchemaVersionException"/>).</summary>
    public static async Task<LifecycleDatabase> OpenAsync(string path, CancellationToken cancellationToken)
    {
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        var fresh = !System.IO.File.Exists(full) || new FileInfo(full).Length == 0;
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = full, Pooling = false }.ToString());
        await connection.OpenAsync(cancellationToken);
        try
        {
            // Only an empty database can change auto_vacuum without a VACUUM: a new one gets INCREMENTAL, so the
            // retention sweep can hand freed pages back to the file system (docs/operations.md: older databases).
            if (fresh)
                await SchemaMigrations.ExecuteAsync(connection, null, "PRAGMA auto_vacuum = INCREMENTAL;", cancellationToken);
            await SchemaMigrations.ExecuteAsync(connection, null, LifecycleSchema.Pragmas, cancellationToken);
            await SchemaMigrations.MigrateAsync(connection, LifecycleSchema.Migrations, $"dispatcher database {full}", cancellationToken);
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }

        return new LifecycleDatabase(connection);
    }

    /// <summary>Runs <paramref name="work"/> in a transaction; commits when it returns, rolls back when it throws.</summary>
    public async Task<T> RunAsync<T>(Func<DbSession, Task<T>> work, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            await using var tx = (SqliteTransaction)await _connection.BeginTransactionAsync(cancellationToken);
            var result = await work(new DbSession(Statement, tx, cancellationToken));
            await tx.CommitAsync(cancellationToken);
            return result;
        }
        finally
        {
            _gate.Release();
        }
    }

    public Task RunAsync(Func<DbSession, Task> work, CancellationToken cancellationToken) =>
        RunAsync(async s =>
        {
            await work(s);
            return true;
        }, cancellationToken);

    private SqliteCommand Statement(string sql)
    {
        if (_statements.TryGetValue(sql, out var cached))
            return cached;
        if (_statements.Count >= MaxStatements)
        {
            foreach (var old in _statements.Values)
                old.Dispose();
            _statements.Clear();
        }

        var cmd = _connection.CreateCommand();
        cmd.CommandText = sql;
        return _statements[sql] = cmd;
    }

    /// <summary>The database file, for a connection of its own (the online backup).</summary>
    public string File => _connection.DataSource;

    public async ValueTask DisposeAsync()
    {
        foreach (var cmd in _statements.Values)
            await cmd.DisposeAsync();
        _statements.Clear();
        await _connection.DisposeAsync();
        _gate.Dispose();
    }
}

/// <summary>
/// One transaction: commands run here are enlisted in it. They are the database's prepared statements (shared by every
/// session, one session at a time): never dispose one, and finish reading a query before running the same SQL again.
/// </summary>
internal sealed class DbSession(Func<string, SqliteCommand> statement, SqliteTransaction transaction, CancellationToken cancellationToken)
{
    public CancellationToken CancellationToken => cancellationToken;

    private SqliteCommand Command(string sql, params (string Name, object? Value)[] parameters)
    {
        var cmd = statement(sql);
        cmd.Transaction = transaction;
        cmd.Parameters.Clear();
        foreach (var (name, value) in parameters)
            cmd.Parameters.AddWithValue(name, value ?? DBNull.Value);
        return cmd;
    }

    public async Task<int> ExecuteAsync(string sql, params (string Name, object? Value)[] parameters) =>
        await Command(sql, parameters).ExecuteNonQueryAsync(cancellationToken);

    public async Task<List<T>> QueryAsync<T>(string sql, Func<SqliteDataReader, T> read, params (string Name, object? Value)[] parameters)
    {
        var cmd = Command(sql, parameters);
        await using var reader = await cmd.ExecuteReaderAsync(cancellationToken);
        var rows = new List<T>();
        while (await reader.ReadAsync(cancellationToken))
            rows.Add(read(reader));
        return rows;
    }

    public async Task<object?> ScalarAsync(string sql, params (string Name, object? Value)[] parameters)
    {
        var value = await Command(sql, parameters).ExecuteScalarAsync(cancellationToken);
        return value is DBNull ? null : value;
    }
}
