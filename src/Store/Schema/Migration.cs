using Microsoft.Data.Sqlite;

namespace BuildFarm.Store.Schema;

/// <summary>
/// One step of a SQLite database's schema: applied inside the migration's transaction to a database at
/// <c>Version - 1</c>, it leaves the database at <see cref="Version"/>. A released step never changes; a new schema is a
/// new step at the end of the list.
/// </summary>
public sealed record Migration(int Version, string Description, Func<SqliteConnection, SqliteTransaction, CancellationToken, Task> ApplyAsync)
{
    /// <summary>A step that is one SQL script.</summary>
    public static Migration Sql(int version, string description, string sql) =>
        new(version, description, (connection, transaction, cancellationToken) => SchemaMigrations.ExecuteAsync(connection, transaction, sql, cancellationToken));
}
