using BuildFarm.Store.Schema;
using Microsoft.Data.Sqlite;

namespace BuildFarm.Dispatcher.Lifecycle;

/// <summary>
/// The SQLite database (WAL) behind the lifecycle. Every operation runs in one transaction under one gate: the
/// dispatcher is the single writer, and serialising the state machine makes each event's transition atomic.
/// </summary>
internal sealed class LifecycleDatabase : IAsyncDisposable
{
    // Prepared statements by SQL text, reused by every writer transaction: preparing was a large part of each event's
    // cost. Only used under _gate (one session at a time); bounded, since a few callers build their SQL (searches).
    private const int MaxStatements = 256;
    private readonly Dictionary<string, SqliteCommand> _statements = new(StringComparer.Ordinal);
    private readonly SqliteConnection _connection;
    private readonly SemaphoreSlim _gate = new(1, 1);

    private readonly string _readerConnectionString;

    /// <summary>
    /// Readers map the database file instead of copying each page in with a read(2): a page is then read where the
    /// kernel's cache holds it. It matters for the reads of thousands of scattered rows (a 10,000-node graph's builds,
    /// the store roots): their pages rarely stay in a reader's own 2 MB cache, which SQLite also drops after every
    /// write the dispatcher commits. At 100,000 builds it took the whole 10,000-node graph detail from 147–229 to
    /// 112–116 ms and all the store roots at once from 255–352 to 143–148 ms (docs/PERFORMANCE.md). Pages past
    /// 1 GiB, and those still in the WAL, are read as before; SQLite remaps after the file shrinks (retention's
    /// incremental vacuum). Set on every read: pooled connections keep it, and the pragma costs microseconds.
    /// </summary>
    private const string ReaderMapping = "PRAGMA mmap_size = 1073741824;";

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
            var session = new DbSession(Statement, owned: false, tx, cancellationToken);
            var result = await work(session);
            await tx.CommitAsync(cancellationToken);
            if (session.ChangedBuilds is { } changed)
                Signals.Pulse(changed);
            if (session.EndedBuilds)
                Signals.PulseEnd();
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
        await using (var map = connection.CreateCommand())
        {
            map.CommandText = ReaderMapping;
            await map.ExecuteNonQueryAsync(cancellationToken);
        }

        // One transaction: every query of the work sees the same snapshot.
        await using var tx = connection.BeginTransaction(deferred: true);
        return await work(new DbSession(sql => NewCommand(connection, sql), owned: true, tx, cancellationToken));
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

        return _statements[sql] = NewCommand(_connection, sql);
    }

    private static SqliteCommand NewCommand(SqliteConnection connection, string sql)
    {
        var cmd = connection.CreateCommand();
        cmd.CommandText = sql;
        return cmd;
    }

    /// <summary>The database file, for a connection of its own (the online backup).</summary>
    public string File => _connection.DataSource;

    public async ValueTask DisposeAsync()
    {
        SqliteConnection.ClearPool(new SqliteConnection(_readerConnectionString));
        foreach (var cmd in _statements.Values)
            await cmd.DisposeAsync();
        _statements.Clear();
        await _connection.DisposeAsync();
        _gate.Dispose();
    }
}

/// <summary>
/// One transaction: commands run here are enlisted in it. A writer session's commands are the database's prepared
/// statements (shared by every writer session, one at a time: never disposed here, and a query is read to its end
/// before the same SQL runs again); a reader session's (<paramref name="owned"/>) are its own, disposed after use.
/// </summary>
internal sealed class DbSession(Func<string, SqliteCommand> statement, bool owned, SqliteTransaction transaction, CancellationToken cancellationToken)
{
    public CancellationToken CancellationToken => cancellationToken;

    /// <summary>Builds whose log or end this transaction wrote; their followers are woken after the commit.</summary>
    public HashSet<Guid>? ChangedBuilds { get; private set; }

    public void Changed(Guid build) => (ChangedBuilds ??= []).Add(build);

    /// <summary>Whether this transaction ended a build (<see cref="BuildSignals.NextEnd"/> wakes after the commit).</summary>
    public bool EndedBuilds { get; private set; }

    public void Ended(Guid build)
    {
        Changed(build);
        EndedBuilds = true;
    }

    public async Task<int> ExecuteAsync(string sql, params (string Name, object? Value)[] parameters)
    {
        var cmd = Command(sql, parameters);
        try
        {
            return await cmd.ExecuteNonQueryAsync(cancellationToken);
        }
        finally
        {
            await ReleaseAsync(cmd);
        }
    }

    public async Task<List<T>> QueryAsync<T>(string sql, Func<SqliteDataReader, T> read, params (string Name, object? Value)[] parameters)
    {
        var cmd = Command(sql, parameters);
        try
        {
            await using var reader = await cmd.ExecuteReaderAsync(cancellationToken);
            var rows = new List<T>();
            while (await reader.ReadAsync(cancellationToken))
                rows.Add(read(reader));
            return rows;
        }
        finally
        {
            await ReleaseAsync(cmd);
        }
    }

    public async Task<object?> ScalarAsync(string sql, params (string Name, object? Value)[] parameters)
    {
        var cmd = Command(sql, parameters);
        try
        {
            var value = await cmd.ExecuteScalarAsync(cancellationToken);
            return value is DBNull ? null : value;
        }
        finally
        {
            await ReleaseAsync(cmd);
        }
    }

    private SqliteCommand Command(string sql, params (string Name, object? Value)[] parameters)
    {
        var cmd = statement(sql);
        cmd.Transaction = transaction;
        cmd.Parameters.Clear();
        foreach (var (name, value) in parameters)
            cmd.Parameters.AddWithValue(name, value ?? DBNull.Value);
        return cmd;
    }

    private ValueTask ReleaseAsync(SqliteCommand cmd) => owned ? cmd.DisposeAsync() : ValueTask.CompletedTask;
}
