using BuildFarm.Dispatcher.Graphs;
using BuildFarm.Dispatcher.Lifecycle;
using BuildFarm.Store.Schema;
using BuildFarm.Testing;
using Microsoft.Data.Sqlite;

namespace BuildFarm.Dispatcher.Tests.Lifecycle;

/// <summary>
/// Schema versions of the dispatcher database: databases made by the unversioned schema (Schemas/unversioned.sql, the
/// DDL every dispatcher ran before versions existed) are migrated in place, and one newer than the code is refused.
/// </summary>
public sealed class LifecycleSchemaTests
{
    private static readonly Guid BuildId = Guid.Parse("0f4b1a52-7d5e-4d0e-9a59-2f5f2b6f8a01");
    /// <summary>The line of <c>graphs</c> that databases made before graphs could wait for capacity lack.</summary>
    private const string WaitForCapacityColumn = "    wait_for_capacity INTEGER NOT NULL,\n";

    private static readonly Guid GraphId = Guid.Parse("6c0e8d1e-1c1e-4bb0-8d2e-0d3c1a9b7f02");

    [Fact]
    public async Task OpenAsync_UnversionedDatabase_IsMigratedToTheLatestSchemaAndKeepsItsRows()
    {
        using var dir = new TempDirectory("schema");
        var old = dir.Combine("old.db");
        await CreateAsync(old, UnversionedSql());

        await using (var db = await LifecycleDatabase.OpenAsync(old, CancellationToken.None))
        {
            var build = await db.RunAsync(s => BuildTable.GetAsync(s, BuildId), CancellationToken.None);
            Assert.Equal("/nix/store/00000000000000000000000000000000-old.drv", build!.DrvPath);
            // Version 2: builds made before it were not trusted, and how they ran is unknown.
            Assert.False(build.Trusted);
            Assert.Null(build.Isolation);
            Assert.All(await db.RunAsync(s => AttemptTable.ListAsync(s, BuildId), CancellationToken.None), a => Assert.Null(a.Isolation));
            Assert.All(await db.RunAsync(s => WorkerTable.ListAsync(s), CancellationToken.None), w => Assert.Null(w.Isolation));
        }

        await using (var fresh = await LifecycleDatabase.OpenAsync(dir.Combine("fresh.db"), CancellationToken.None))
        {
        }

        Assert.Equal(LifecycleSchema.Migrations.Count, await VersionAsync(old));
        Assert.Equal(LifecycleSchema.Migrations.Count, await VersionAsync(dir.Combine("fresh.db")));
        Assert.Equal(await SchemaAsync(dir.Combine("fresh.db")), await SchemaAsync(old));
    }

    [Fact]
    public async Task OpenAsync_DatabaseMadeBeforeGraphsWaitForCapacity_GainsTheColumnWithOldGraphsNotWaiting()
    {
        using var dir = new TempDirectory("schema");
        var old = dir.Combine("old.db");
        var sql = UnversionedSql();
        Assert.Contains(WaitForCapacityColumn, sql, StringComparison.Ordinal);
        await CreateAsync(old, sql.Replace(WaitForCapacityColumn, "", StringComparison.Ordinal));
        Assert.DoesNotContain("wait_for_capacity", await TableSqlAsync(old, "graphs"), StringComparison.Ordinal);

        await using var db = await LifecycleDatabase.OpenAsync(old, CancellationToken.None);

        var graph = await db.RunAsync(s => GraphTable.GetAsync(s, GraphId), CancellationToken.None);
        Assert.False(graph!.WaitForCapacity);
        Assert.Equal("running", graph.State);
        var waiting = graph with { Id = Guid.NewGuid(), WaitForCapacity = true };
        await db.RunAsync(s => GraphTable.InsertAsync(s, waiting, []), CancellationToken.None);
        Assert.True((await db.RunAsync(s => GraphTable.GetAsync(s, waiting.Id), CancellationToken.None))!.WaitForCapacity);
        Assert.Equal(LifecycleSchema.Migrations.Count, await VersionAsync(old));
    }

    [Fact]
    public async Task OpenAsync_VersionedDatabase_IsOpenedAgainWithoutChange()
    {
        using var dir = new TempDirectory("schema");
        var file = dir.Combine("dispatcher.db");
        await (await LifecycleDatabase.OpenAsync(file, CancellationToken.None)).DisposeAsync();
        var before = await SchemaAsync(file);

        await (await LifecycleDatabase.OpenAsync(file, CancellationToken.None)).DisposeAsync();

        Assert.Equal(before, await SchemaAsync(file));
        Assert.Equal(LifecycleSchema.Migrations.Count, await VersionAsync(file));
    }

    [Fact]
    public async Task OpenAsync_DatabaseNewerThanTheCode_IsRefusedAndLeftUntouched()
    {
        using var dir = new TempDirectory("schema");
        var file = dir.Combine("dispatcher.db");
        var newer = LifecycleSchema.Migrations.Count + 1;
        await CreateAsync(file, $"CREATE TABLE from_the_future (x INTEGER); PRAGMA user_version = {newer};");

        var e = await Assert.ThrowsAsync<SchemaVersionException>(() => LifecycleDatabase.OpenAsync(file, CancellationToken.None));

        Assert.Contains($"dispatcher database {file} has schema version {newer}", e.Message, StringComparison.Ordinal);
        Assert.Contains($"knows versions up to {LifecycleSchema.Migrations.Count}", e.Message, StringComparison.Ordinal);
        Assert.Equal(newer, await VersionAsync(file));
        Assert.Equal(["from_the_future"], (await SchemaAsync(file)).Select(t => t.Name));
    }

    [Fact]
    public async Task OpenAsync_DatabaseAtVersion11WithBuilds_GainsTheFreshIndexesOfBuildsAndKeepsItsRows()
    {
        using var dir = new TempDirectory("schema");
        var old = dir.Combine("v11.db");
        await using (var connection = Connect(old))
        {
            await connection.OpenAsync();
            await SchemaMigrations.MigrateAsync(connection, [.. LifecycleSchema.Migrations.Take(11)], "v11", CancellationToken.None);
            await SchemaMigrations.ExecuteAsync(connection, null, $"""
                INSERT INTO builds (id, drv_path, drv_text, store_dir, system, features, wanted_outputs, state, attempt, submitted_at)
                VALUES ('{BuildId}', '/nix/store/00000000000000000000000000000000-old.drv', 'Derive()', '/nix/store', 'x86_64-linux', '', 'out', 'queued', 1, 1700000000000);
                INSERT INTO builds (id, drv_path, drv_text, store_dir, system, features, wanted_outputs, state, attempt, worker, submitted_at, started_at, finished_at)
                VALUES ('{Guid.NewGuid()}', '/nix/store/11111111111111111111111111111111-done.drv', 'Derive()', '/nix/store', 'x86_64-linux', '', 'out', 'succeeded', 1, 'w1', 1700000000000, 1700000001000, 1700000002000);
                """, CancellationToken.None);
        }

        Assert.Contains("builds_state", (await SchemaAsync(old)).Select(t => t.Name));

        await using (var db = await LifecycleDatabase.OpenAsync(old, CancellationToken.None))
        {
            Assert.Equal(BuildState.Queued, (await db.RunAsync(s => BuildTable.GetAsync(s, BuildId), CancellationToken.None))!.State);
            var done = await db.ReadAsync(s => BuildSearch.SearchAsync(s, new BuildQuery(null, null, "w1", null, 0, 10)), CancellationToken.None);
            Assert.Equal(1, done.Total);
        }

        await (await LifecycleDatabase.OpenAsync(dir.Combine("fresh.db"), CancellationToken.None)).DisposeAsync();
        Assert.Equal(LifecycleSchema.Migrations.Count, await VersionAsync(old));
        Assert.Equal(await SchemaAsync(dir.Combine("fresh.db")), await SchemaAsync(old));
        var indexes = (await SchemaAsync(old)).Where(t => t.Sql.StartsWith("CREATE INDEX", StringComparison.Ordinal) && t.Sql.Contains(" ON builds(", StringComparison.Ordinal))
            .Select(t => t.Name).Order(StringComparer.Ordinal);
        Assert.Equal(
            ["builds_drv_path", "builds_finished_class", "builds_name", "builds_reused", "builds_state_open", "builds_state_submitted", "builds_submitted_class", "builds_unconfirmed", "builds_worker"],
            indexes);
    }

    /// <summary>
    /// The reads of <c>builds</c> whose plan SQLite picks among indexes it rates alike (the dispatcher runs no
    /// <c>ANALYZE</c>): each must stay on the index that reads the fewest rows at 100,000 builds (docs/PERFORMANCE.md
    /// § "Fewer index pages per build"). The SQL is that of the named methods.
    /// </summary>
    [Theory]
    [InlineData("SELECT * FROM builds WHERE drv_path = $drv AND state IN ('queued', 'running') AND store_dir = $sd AND trusted = $t ORDER BY submitted_at", "builds_drv_path")] // BuildTable.FindOpenAsync
    [InlineData("SELECT * FROM builds WHERE state = 'running' AND lease_expires_at < $now AND id NOT IN (SELECT build_id FROM pending_results) ORDER BY priority DESC, submitted_at", "builds_state_submitted")] // SweepLeasesAsync
    [InlineData("SELECT * FROM builds WHERE state = 'running' AND +worker = $w AND id NOT IN (SELECT build_id FROM pending_results) ORDER BY priority DESC, submitted_at", "builds_state_submitted")] // OnWentOfflineAsync
    [InlineData("SELECT o.path FROM outputs o JOIN builds b ON b.id = o.build_id WHERE b.worker = $w AND +b.state = 'succeeded' ORDER BY b.finished_at DESC LIMIT 1", "builds_worker")] // OutputTable.LatestOfWorkerAsync
    [InlineData("SELECT COUNT(*) FROM builds WHERE 1 = 1 AND state = $state AND worker = $worker", "builds_worker")] // BuildSearch, a worker's builds of one state
    [InlineData("SELECT COUNT(*), MIN(submitted_at) FROM builds INDEXED BY builds_unconfirmed WHERE state = 'queued' AND published = 0 AND submitted_at < $before", "COVERING INDEX builds_unconfirmed")] // OpenBuildCounts
    [InlineData("SELECT system, features, COUNT(*) FROM builds WHERE finished_at >= $from AND finished_at < $until GROUP BY system, features", "COVERING INDEX builds_finished_class")] // BuildStatistics
    [InlineData("SELECT system, features, trusted, state, COUNT(*) FROM builds WHERE state IN ('queued', 'running') GROUP BY system, features, trusted, state", "COVERING INDEX builds_state_open")] // BuildStatistics
    [InlineData("SELECT b.finished_at, b.rowid FROM builds b WHERE b.finished_at >= $from AND (b.finished_at > $from OR b.rowid > $before) AND +b.state = 'succeeded' ORDER BY b.finished_at, b.rowid LIMIT $until", "builds_finished_class")] // OutputTable.SucceededAfterAsync
    [InlineData("SELECT rowid AS r FROM builds INDEXED BY builds_state_open WHERE state IN ('queued', 'running') AND rowid > $before ORDER BY rowid LIMIT $until", "COVERING INDEX builds_state_open")] // BuildInputTable.OpenPathsAfterAsync
    public async Task OpenAsync_ReadsOfBuilds_UseTheirIndex(string sql, string index)
    {
        var plan = await FreshPlanAsync(sql, "$drv", "$sd", "$t", "$now", "$w", "$state", "$worker", "$before", "$from", "$until");

        Assert.Contains(plan, step => step.Contains($"USING {index} (", StringComparison.Ordinal) || step.Contains($"USING INDEX {index} (", StringComparison.Ordinal));
    }

    /// <summary>The retention sweep's reads follow the finish-time index and stop at the batch's end: no sort of every finished build.</summary>
    [Theory]
    [InlineData(RetentionTable.ExpiredByAgeSql)]
    [InlineData(RetentionTable.OldestFinishedSql)]
    public async Task OpenAsync_RetentionReads_WalkTheFinishTimeIndexWithoutSorting(string sql)
    {
        var plan = await FreshPlanAsync(sql, "$before", "$n");

        Assert.Contains(plan, step => step.StartsWith("SEARCH builds USING INDEX builds_finished_class (finished_at", StringComparison.Ordinal));
        Assert.DoesNotContain(plan, step => step.Contains("TEMP B-TREE", StringComparison.Ordinal));
    }

    /// <summary>SQLite's plan for <paramref name="sql"/> on a fresh database (each parameter bound to 0): one line per step.</summary>
    private static async Task<List<string>> FreshPlanAsync(string sql, params string[] parameters)
    {
        using var dir = new TempDirectory("schema");
        var file = dir.Combine("dispatcher.db");
        await (await LifecycleDatabase.OpenAsync(file, CancellationToken.None)).DisposeAsync();
        await using var connection = Connect(file);
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "EXPLAIN QUERY PLAN " + sql;
        foreach (var name in parameters)
            command.Parameters.AddWithValue(name, 0);
        var plan = new List<string>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
            plan.Add(reader.GetString(3));
        return plan;
    }

    private static string UnversionedSql() =>
        File.ReadAllText(Path.Combine(RepoPaths.Root, "tests", "Dispatcher.Tests", "Lifecycle", "Schemas", "unversioned.sql"));

    /// <summary>A database as an older dispatcher left it: its DDL plus, when it has the tables, one build and one graph.</summary>
    private static async Task CreateAsync(string file, string ddl)
    {
        await using var connection = Connect(file);
        await connection.OpenAsync();
        await SchemaMigrations.ExecuteAsync(connection, null, ddl, CancellationToken.None);
        if (!ddl.Contains("CREATE TABLE IF NOT EXISTS builds", StringComparison.Ordinal))
            return;
        var (waitColumn, waitValue) = ddl.Contains(WaitForCapacityColumn, StringComparison.Ordinal) ? (", wait_for_capacity", ", 0") : ("", "");
        await SchemaMigrations.ExecuteAsync(connection, null, $"""
            INSERT INTO builds (id, drv_path, drv_text, store_dir, system, features, wanted_outputs, state, attempt, submitted_at)
            VALUES ('{BuildId}', '/nix/store/00000000000000000000000000000000-old.drv', 'Derive()', '/nix/store', 'x86_64-linux', '', 'out', 'queued', 1, 1700000000000);
            INSERT INTO graphs (id, targets, keep_going, priority, timeout_ms, max_silent_ms{waitColumn}, state, created_at)
            VALUES ('{GraphId}', '[]', 0, 0, 0, 0{waitValue}, 'running', 1700000000000);
            """, CancellationToken.None);
    }

    private static async Task<int> VersionAsync(string file)
    {
        await using var connection = Connect(file);
        await connection.OpenAsync();
        return await SchemaMigrations.VersionAsync(connection, null, CancellationToken.None);
    }

    private static async Task<string> TableSqlAsync(string file, string table) =>
        (await SchemaAsync(file)).Single(t => t.Name == table).Sql;

    /// <summary>Every table and index with the DDL SQLite keeps for it, by name.</summary>
    private static async Task<List<(string Name, string Sql)>> SchemaAsync(string file)
    {
        await using var connection = Connect(file);
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name";
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<(string, string)>();
        while (await reader.ReadAsync())
            rows.Add((reader.GetString(0), reader.GetString(1)));
        return rows;
    }

    private static SqliteConnection Connect(string file) => new(new SqliteConnectionStringBuilder { DataSource = file, Pooling = false }.ToString());
}
