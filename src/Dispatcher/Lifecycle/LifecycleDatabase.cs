using BuildFarm.Store.Schema;
using Microsoft.Data.Sqlite;

namespace BuildFarm.Dispatcher.Lifecycle;

/// <summary>
/// The SQLite database (WAL) behind the lifecycle. Every operation runs in one transaction under one gate: the
/// dispatcher is the single writer, and serialising the state machine makes each event's transition atomic.
/// </summary>
internal sealed class LifecycleDatabase : IAsyncDisposable
{
    private readonly SqliteConnection _connection;
    private readonly SemaphoreSlim _gate = new(1, 1);

    private readonly string _readerConnectionString;

    private LifecycleDatabase(SqliteConnection connection)
    {
        _connection = connection;
        _readerConnectionString = new SqliteConnectionStringBuilder { DataSource = connection.DataSource, Mode = SqliteOpenMode.ReadOnly, Pooling = true }.ToString();
    }

    /// <summary>Pulsed after each commit with the builds whose log or end it wrote (<see cref="DbSession.Changed"/>).</summary>
    public BuildSignals Signals { get; } = new();

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
            var session = new DbSession(_connection, tx, cancellationToken);
            var result = await work(session);
            await tx.CommitAsync(cancellationToken);
            if (session.ChangedBuilds is { } changed)
                Signals.Pulse(changed);
            return result;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>
    /// Runs a read-only <paramref name="work"/> on a pooled connection of its own, outside the gate: in WAL mode it
    /// reads the last committed state while the writer goes on, so pages, the hook's decisions and its log stream
    /// never queue behind imports and claims. Never for a read that decides a write (that belongs in <see cref="RunAsync{T}"/>).
    /// </summary>
    public async Task<T> ReadAsync<T>(Func<DbSession, Task<T>> work, CancellationToken cancellationToken)
    {
        await using var connection = new SqliteConnection(_readerConnectionString);
        await connection.OpenAsync(cancellationToken);
        // One transaction: every query of the work sees the same snapshot.
        await using var tx = connection.BeginTransaction(deferred: true);
        return await work(new DbSession(connection, tx, cancellationToken));
    }

    public Task RunAsync(Func<DbSession, Task> work, CancellationToken cancellationToken) =>
        RunAsync(async s =>
        {
            await work(s);
            return true;
        }, cancellationToken);

    /// <summary>The database file, for a connection of its own (the online backup).</summary>
    public string File => _connection.DataSource;

    public async ValueTask DisposeAsync()
    {
        SqliteConnection.ClearPool(new SqliteConnection(_readerConnectionString));
        await _connection.DisposeAsync();
        _gate.Dispose();
    }
}

/// <summary>One transaction: commands created here are enlisted in it.</summary>
internal sealed class DbSession(SqliteConnection connection, SqliteTransaction transaction, CancellationToken cancellationToken)
{
    public CancellationToken CancellationToken => cancellationToken;

    /// <summary>Builds whose log or end this transaction wrote; their followers are woken after the commit.</summary>
    public HashSet<Guid>? ChangedBuilds { get; private set; }

    public void Changed(Guid build) => (ChangedBuilds ??= []).Add(build);

    public SqliteCommand Command(string sql, params (string Name, object? Value)[] parameters)
    {
        var cmd = connection.CreateCommand();
        cmd.Transaction = transaction;
        cmd.CommandText = sql;
        foreach (var (name, value) in parameters)
            cmd.Parameters.AddWithValue(name, value ?? DBNull.Value);
        return cmd;
    }

    public async Task<int> ExecuteAsync(string sql, params (string Name, object? Value)[] parameters)
    {
        await using var cmd = Command(sql, parameters);
        return await cmd.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task<List<T>> QueryAsync<T>(string sql, Func<SqliteDataReader, T> read, params (string Name, object? Value)[] parameters)
    {
        await using var cmd = Command(sql, parameters);
        await using var reader = await cmd.ExecuteReaderAsync(cancellationToken);
        var rows = new List<T>();
        while (await reader.ReadAsync(cancellationToken))
            rows.Add(read(reader));
        return rows;
    }

    public async Task<object?> ScalarAsync(string sql, params (string Name, object? Value)[] parameters)
    {
        await using var cmd = Command(sql, parameters);
        var value = await cmd.ExecuteScalarAsync(cancellationToken);
        return value is DBNull ? null : value;
    }
}
