using System.Diagnostics;
using BuildFarm.Store.Schema;
using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace BuildFarm.Dispatcher.Lifecycle;

/// <summary>
/// The SQLite database (WAL) behind the lifecycle. Every operation runs under one gate, atomically (a savepoint of a
/// transaction that concurrent writers share, <see cref="RunAsync{T}"/>): the dispatcher is the single writer, and
/// serialising the state machine makes each event's transition atomic.
/// </summary>
internal sealed class LifecycleDatabase : IAsyncDisposable
{
    // Prepared statements by SQL text, reused by every writer transaction: preparing was a large part of each event's
    // cost. Only used under _gate (one session at a time); bounded, since a few callers build their SQL (searches).
    private const int MaxStatements = 256;
    private readonly Dictionary<string, SqliteCommand> _statements = new(StringComparer.Ordinal);
    private readonly SqliteConnection _connection;
    private readonly SemaphoreSlim _gate = new(1, 1);

    // Group commit (RunAsync): at most this many works, or works this old, share a transaction.
    private const int MaxBatch = 64;
    private static readonly TimeSpan MaxBatchAge = TimeSpan.FromMilliseconds(20);
    private int _waiting;
    private Batch? _batch;
    private long _dbgCommits, _dbgWorks;

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

    /// <summary>
    /// Runs <paramref name="work"/> in a transaction and returns once that transaction has committed; its changes are
    /// rolled back when it throws. Writers that queue up behind each other share one transaction (group commit, below).
    /// </summary>
    /// <remarks>
    /// Group commit: each work runs under the gate in a savepoint of the open batch transaction; the holder of the gate
    /// commits the batch when no other caller waits for the gate (or the batch holds <see cref="MaxBatch"/> works or is
    /// older than <see cref="MaxBatchAge"/>), otherwise it leaves the transaction open for the next one. A lone writer
    /// therefore commits at once, as before; writers that arrive while one runs (submissions, publishes, events) pay
    /// for one commit together instead of one each. Delivery is unchanged: no caller returns before the commit that
    /// holds its work, so an event is still acked only after its state is durable, and a message implied by a
    /// transition is still sent only after it committed. When the commit (or SQLite itself, by rolling the whole
    /// transaction back) fails, every work of the batch fails with that error and nothing of it is kept.
    /// </remarks>
    public async Task<T> RunAsync<T>(Func<DbSession, Task<T>> work, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _waiting);
        try
        {
            await _gate.WaitAsync(cancellationToken);
        }
        catch
        {
            Interlocked.Decrement(ref _waiting);
            // The holder before us may have left its batch open for us: commit it if no one else will.
            await CommitIfIdleAsync();
            throw;
        }

        Interlocked.Decrement(ref _waiting);
        Task committed;
        T result;
        try
        {
            if (_batch is null)
            {
                _batch = new Batch((SqliteTransaction)await _connection.BeginTransactionAsync(CancellationToken.None), Stopwatch.GetTimestamp());
            }

            var batch = _batch;
            var session = new DbSession(Statement, owned: false, batch.Transaction, cancellationToken);
            await Savepoint("SAVEPOINT bf_work;", batch);
            try
            {
                result = await work(session);
                await Savepoint("RELEASE bf_work;", batch);
            }
            catch (Exception e)
            {
                if (raw.sqlite3_get_autocommit(_connection.Handle) != 0)
                {
                    // SQLite rolled the whole transaction back (I/O error, disk full...): every earlier work of the
                    // batch is gone with it, so each of them fails too (their callers retry or redeliver).
                    FailBatch(e);
                }
                else
                {
                    await Savepoint("ROLLBACK TO bf_work;", batch);
                    await Savepoint("RELEASE bf_work;", batch);
                }

                throw;
            }

            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            batch.Waiting.Add(done);
            if (session.ChangedBuilds is { } changed)
                (batch.Changed ??= []).UnionWith(changed);
            committed = done.Task;
            if (Volatile.Read(ref _waiting) == 0 || batch.Waiting.Count >= MaxBatch || Stopwatch.GetElapsedTime(batch.Started) > MaxBatchAge)
                await CommitAsync();
        }
        finally
        {
            _gate.Release();
        }

        await committed;
        return result;
    }

    // Under _gate only.
    private async Task Savepoint(string sql, Batch batch)
    {
        var cmd = Statement(sql);
        cmd.Transaction = batch.Transaction;
        cmd.Parameters.Clear();
        await cmd.ExecuteNonQueryAsync(CancellationToken.None);
    }

    // Under _gate only: commits the open batch and completes its callers (with the commit's error if it fails).
    private async Task CommitAsync()
    {
        if (_batch is not { } batch)
            return;
        _batch = null;
        try
        {
            await batch.Transaction.CommitAsync(CancellationToken.None);
        }
        catch (Exception e)
        {
            await batch.Transaction.DisposeAsync();
            foreach (var waiter in batch.Waiting)
                waiter.TrySetException(e);
            return;
        }

        await batch.Transaction.DisposeAsync();
        _dbgCommits++; _dbgWorks += batch.Waiting.Count;
        if (_dbgCommits % 2000 == 0) Console.Error.WriteLine($"DBG commits {_dbgCommits} works {_dbgWorks}");
        if (batch.Changed is { } changed)
            Signals.Pulse(changed);
        foreach (var waiter in batch.Waiting)
            waiter.TrySetResult();
    }

    // Under _gate only: the transaction is gone; its callers so far learn why.
    private void FailBatch(Exception e)
    {
        if (_batch is not { } batch)
            return;
        _batch = null;
        batch.Transaction.Dispose();
        foreach (var waiter in batch.Waiting)
            waiter.TrySetException(e);
    }

    private async Task CommitIfIdleAsync()
    {
        await _gate.WaitAsync(CancellationToken.None);
        try
        {
            if (Volatile.Read(ref _waiting) == 0)
                await CommitAsync();
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>The open batch: its transaction, when it began, the callers waiting for its commit and the builds it changed.</summary>
    private sealed record Batch(SqliteTransaction Transaction, long Started)
    {
        public List<TaskCompletionSource> Waiting { get; } = [];

        public HashSet<Guid>? Changed { get; set; }
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
        // A batch left open by a work still running when the host stops: commit it if that work ends soon, else its
        // callers fail (nothing of it is kept; their events are redelivered).
        if (await _gate.WaitAsync(TimeSpan.FromSeconds(5)))
            await CommitAsync();
        else
            FailBatch(new ObjectDisposedException(nameof(LifecycleDatabase)));
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
