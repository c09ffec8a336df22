using System.CommandLine;
using System.Globalization;
using BuildFarm.Cli.Api;
using Microsoft.Data.Sqlite;

namespace BuildFarm.Cli.Database;

/// <summary>
/// <c>buildfarm db backup FILE</c>: a consistent copy of the running dispatcher's database, made by the dispatcher with
/// SQLite's online backup (<c>GET /api/db/backup</c>), written to <c>FILE.part</c>, checked (<c>PRAGMA
/// integrity_check</c>) and only then renamed to FILE: FILE is never a partial or corrupt copy.
/// </summary>
internal static class DbCommands
{
    public static Command Create()
    {
        var db = new Command("db", "The dispatcher's database");
        var file = new Argument<string>("file") { Description = "Where to write the copy (refused if it exists)" };
        var backup = new Command("backup", "Copy the running dispatcher's database (SQLite online backup), checked before it is kept") { file };
        var endpoint = DispatcherClient.AddOptions(backup);
        backup.SetAction((result, ct) => CliErrorHandler.RunAsync(result, "db backup", async () =>
        {
            var target = Path.GetFullPath(result.GetRequiredValue(file));
            if (File.Exists(target))
                throw new CliError($"{target} exists: give a new file name (a backup never overwrites)");
            var part = target + ".part";
            // The dispatcher copies the whole database before it answers: a large one takes a while.
            using var api = DispatcherClient.Connect(result, endpoint, TimeSpan.FromHours(1));
            try
            {
                await using (var output = new FileStream(part, FileMode.Create, FileAccess.Write, FileShare.None))
                {
                    await api.DownloadAsync("api/db/backup", output, ct);
                    await output.FlushAsync(ct);
                    output.Flush(flushToDisk: true);
                }

                var (check, version, builds) = await CheckAsync(part, ct);
                if (check != "ok")
                    throw new CliError($"the copy from {api.Url} failed SQLite's integrity check ({check}); nothing kept");
                File.Move(part, target);
                await result.InvocationConfiguration.Output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                    $"backed up {api.Url} to {target}: {new FileInfo(target).Length} bytes, schema version {version}, {builds} builds, integrity ok"));
                return 0;
            }
            finally
            {
                File.Delete(part);
            }
        }));
        db.Subcommands.Add(backup);
        return db;
    }

    private static async Task<(string Check, long Version, long Builds)> CheckAsync(string file, CancellationToken ct)
    {
        await using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = file, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString());
        await connection.OpenAsync(ct);
        await using var command = connection.CreateCommand();
        try
        {
            command.CommandText = "PRAGMA integrity_check";
            var check = (string)(await command.ExecuteScalarAsync(ct))!;
            command.CommandText = "PRAGMA user_version";
            var version = (long)(await command.ExecuteScalarAsync(ct))!;
            command.CommandText = "SELECT COUNT(*) FROM builds";
            var builds = (long)(await command.ExecuteScalarAsync(ct))!;
            return (check, version, builds);
        }
        catch (SqliteException e)
        {
            return (e.Message, 0, 0);
        }
    }
}
