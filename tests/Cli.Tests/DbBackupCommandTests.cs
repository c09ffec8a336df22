using BuildFarm.Dispatcher.Tests.Ui;
using BuildFarm.Testing;
using Microsoft.Data.Sqlite;

namespace BuildFarm.Cli.Tests;

/// <summary><c>buildfarm db backup FILE</c> against the real dispatcher web app over a seeded, open SQLite DB.</summary>
public sealed class DbBackupCommandTests
{
    [Fact]
    public async Task Backup_RunningDispatcher_WritesACheckedCopyWithItsBuilds_AndNeverOverwrites()
    {
        await using var h = await UiHarness.StartAsync();
        await h.HeartbeatAsync("w1", UiHarness.Caps("x86_64-linux"));
        var a = await h.SubmitAsync("backed-up-one");
        await h.StartBuildAsync(a, "w1");
        await h.SubmitAsync("backed-up-two");
        using var dir = new TempDirectory("db-backup");
        var file = dir.Combine("dispatcher-backup.db");

        var r = await CliRun.RunAsync("db", "backup", file, "--url", h.BaseUrl);

        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("2 builds, integrity ok", r.StdoutText, StringComparison.Ordinal);
        Assert.False(File.Exists(file + ".part"));
        await using (var connection = new SqliteConnection($"Data Source={file};Mode=ReadOnly;Pooling=False"))
        {
            await connection.OpenAsync();
            await using var command = connection.CreateCommand();
            command.CommandText = "SELECT COUNT(*) FROM builds WHERE drv_path LIKE '%-backed-up-%'";
            Assert.Equal(2L, await command.ExecuteScalarAsync());
        }

        var again = await CliRun.RunAsync("db", "backup", file, "--url", h.BaseUrl);
        Assert.NotEqual(0, again.ExitCode);
        Assert.Contains("exists", again.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Backup_DispatcherUnreachable_FailsAndLeavesNoFile()
    {
        using var dir = new TempDirectory("db-backup");
        var file = dir.Combine("none.db");

        var r = await CliRun.RunAsync("db", "backup", file, "--url", $"http://127.0.0.1:{FreePort.Next()}");

        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("cannot reach the dispatcher", r.Stderr, StringComparison.Ordinal);
        Assert.False(File.Exists(file));
        Assert.False(File.Exists(file + ".part"));
    }
}
