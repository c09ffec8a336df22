using BuildFarm.Dispatcher.Lifecycle;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Data.Sqlite;

namespace BuildFarm.Dispatcher.Api;

/// <summary>
/// <c>GET /api/db/backup</c>: a consistent copy of the dispatcher's database while it runs, made with SQLite's online
/// backup API from a connection of its own (docs/api.md, docs/operations.md). The copy is one snapshot: the backup
/// reads under one read transaction, and in WAL mode the lifecycle keeps writing meanwhile (its gate is not taken).
/// </summary>
internal static class DatabaseRoutes
{
    public static IEndpointRouteBuilder MapDatabaseRoutes(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/db/backup", async (LifecycleDatabase db, HttpContext http, CancellationToken ct) =>
        {
            // Beside the database: same file system, so the copy never fills another disk.
            var temp = Path.Combine(Path.GetDirectoryName(db.File)!, $".backup-{Guid.NewGuid():N}.db");
            try
            {
                await BackupAsync(db.File, temp, ct);
                http.Response.ContentType = "application/vnd.sqlite3";
                http.Response.Headers.ContentDisposition = "attachment; filename=\"dispatcher.db\"";
                http.Response.ContentLength = new FileInfo(temp).Length;
                await using var copy = File.OpenRead(temp);
                await copy.CopyToAsync(http.Response.Body, ct);
            }
            finally
            {
                File.Delete(temp);
            }
        });
        return app;
    }

    /// <summary>Copies <paramref name="source"/> into a new single-file database <paramref name="target"/> (rollback journal, no -wal beside it).</summary>
    public static async Task BackupAsync(string source, string target, CancellationToken ct)
    {
        await using var from = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = source, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString());
        await using var to = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = target, Pooling = false }.ToString());
        await from.OpenAsync(ct);
        await to.OpenAsync(ct);
        from.BackupDatabase(to);
        await using var journal = to.CreateCommand();
        journal.CommandText = "PRAGMA journal_mode = DELETE;";
        await journal.ExecuteNonQueryAsync(ct);
    }
}
