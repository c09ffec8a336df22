using BuildFarm.Store.Schema;
using BuildFarm.Testing;
using Microsoft.Data.Sqlite;

namespace BuildFarm.Store.Tests.Schema;

public sealed class SchemaMigrationsTests
{
    [Fact]
    public async Task MigrateAsync_FromAnOlderVersion_RunsOnlyTheLaterStepsInOrder()
    {
        using var temp = new TempDirectory("bf-schema");
        await using var connection = await OpenAsync(temp.Combine("a.db"));
        var ran = new List<int>();
        Migration Step(int version) => new(version, $"step {version}", (c, t, ct) =>
        {
            ran.Add(version);
            return SchemaMigrations.ExecuteAsync(c, t, $"CREATE TABLE t{version} (x INTEGER);", ct);
        });

        Assert.Equal(0, await SchemaMigrations.MigrateAsync(connection, [Step(1)], "test database", CancellationToken.None));
        Assert.Equal(1, await SchemaMigrations.MigrateAsync(connection, [Step(1), Step(2), Step(3)], "test database", CancellationToken.None));

        Assert.Equal([1, 2, 3], ran);
        Assert.Equal(3, await SchemaMigrations.VersionAsync(connection, null, CancellationToken.None));
    }

    [Fact]
    public async Task MigrateAsync_StepThatFails_LeavesTheOldVersionAndSchema()
    {
        using var temp = new TempDirectory("bf-schema");
        await using var connection = await OpenAsync(temp.Combine("a.db"));
        await SchemaMigrations.MigrateAsync(connection, [Migration.Sql(1, "one", "CREATE TABLE one (x INTEGER);")], "test database", CancellationToken.None);

        await Assert.ThrowsAsync<SqliteException>(() => SchemaMigrations.MigrateAsync(connection,
            [Migration.Sql(1, "one", "CREATE TABLE one (x INTEGER);"), Migration.Sql(2, "two", "CREATE TABLE two (x INTEGER); SELECT * FROM missing;")],
            "test database", CancellationToken.None));

        Assert.Equal(1, await SchemaMigrations.VersionAsync(connection, null, CancellationToken.None));
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT COUNT(*) FROM sqlite_master WHERE name = 'two'";
        Assert.Equal(0L, await command.ExecuteScalarAsync());
    }

    [Fact]
    public async Task MigrateAsync_StepsOutOfOrder_IsABug()
    {
        using var temp = new TempDirectory("bf-schema");
        await using var connection = await OpenAsync(temp.Combine("a.db"));
        var e = await Assert.ThrowsAsync<ArgumentException>(() => SchemaMigrations.MigrateAsync(connection,
            [Migration.Sql(2, "two", "SELECT 1;")], "test database", CancellationToken.None));
        Assert.Contains("numbered 2", e.Message, StringComparison.Ordinal);
    }

    private static async Task<SqliteConnection> OpenAsync(string file)
    {
        var connection = new SqliteConnection($"Data Source={file};Pooling=False");
        await connection.OpenAsync();
        return connection;
    }
}
