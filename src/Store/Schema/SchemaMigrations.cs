using System.Globalization;
using Microsoft.Data.Sqlite;

namespace BuildFarm.Store.Schema;

/// <summary>
/// Schema versions of a SQLite database in <c>PRAGMA user_version</c>: on open, every migration above the stored version
/// runs in order, each setting the version it reaches. A database without a version (0: made before versions existed,
/// or just created) starts at the first migration, which must therefore accept a database that already has that
/// schema. A database newer than the code is refused, never written.
/// </summary>
public static class SchemaMigrations
{
    /// <summary>
    /// Brings the database to the last of <paramref name="migrations"/> (numbered 1, 2, … in order) and returns the
    /// version it had. <paramref name="database"/> names it in the refusal (e.g. <c>store database /srv/w1/…/store.db</c>).
    /// </summary>
    /// <remarks>
    /// Checkpoint: all the steps run in one <c>BEGIN IMMEDIATE</c> transaction with the version update, so a crash
    /// leaves the old version and its schema (the next open migrates again) and two processes opening the same file
    /// migrate it once: the second reads the version the first committed.
    /// </remarks>
    public static async Task<int> MigrateAsync(SqliteConnection connection, IReadOnlyList<Migration> migrations, string database, CancellationToken cancellationToken)
    {
        for (var i = 0; i < migrations.Count; i++)
        {
            if (migrations[i].Version != i + 1)
                throw new ArgumentException($"migration {i + 1} of {database} is numbered {migrations[i].Version}: migrations are numbered 1, 2, … in order", nameof(migrations));
        }

        await using var transaction = connection.BeginTransaction(System.Data.IsolationLevel.Serializable, deferred: false);
        var found = await VersionAsync(connection, transaction, cancellationToken);
        if (found > migrations.Count)
        {
            throw new SchemaVersionException(
                $"{database} has schema version {found}, but this buildfarm knows versions up to {migrations.Count}: a newer buildfarm wrote it. "
                + "Run that newer version, or use another database; this one is left untouched");
        }

        foreach (var migration in migrations.Skip(found))
        {
            await migration.ApplyAsync(connection, transaction, cancellationToken);
            await ExecuteAsync(connection, transaction, string.Create(CultureInfo.InvariantCulture, $"PRAGMA user_version = {migration.Version};"), cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
        return found;
    }

    /// <summary>The schema version stored in the database (0 when it has none).</summary>
    public static async Task<int> VersionAsync(SqliteConnection connection, SqliteTransaction? transaction, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = "PRAGMA user_version;";
        return Convert.ToInt32(await command.ExecuteScalarAsync(cancellationToken), CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// Adds a column to an existing table unless it is there already: for a first migration that must also repair
    /// unversioned databases made before the column existed.
    /// </summary>
    public static async Task AddColumnIfMissingAsync(SqliteConnection connection, SqliteTransaction transaction, string table, string column, string definition, CancellationToken cancellationToken)
    {
        await using (var command = connection.CreateCommand())
        {
            command.Transaction = transaction;
            command.CommandText = "SELECT 1 FROM pragma_table_info($t) WHERE name = $c";
            command.Parameters.AddWithValue("$t", table);
            command.Parameters.AddWithValue("$c", column);
            if (await command.ExecuteScalarAsync(cancellationToken) is not null)
                return;
        }

        await ExecuteAsync(connection, transaction, $"ALTER TABLE {table} ADD COLUMN {column} {definition};", cancellationToken);
    }

    public static async Task ExecuteAsync(SqliteConnection connection, SqliteTransaction? transaction, string sql, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync(cancellationToken);
    }
}
