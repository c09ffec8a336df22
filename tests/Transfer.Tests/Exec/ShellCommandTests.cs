using BuildFarm.Testing;
using BuildFarm.Transfer.Exec;

namespace BuildFarm.Transfer.Tests.Exec;

public sealed class ShellCommandTests
{
    [Fact]
    public async Task Join_AwkwardArguments_ReachTheCommandVerbatim()
    {
        string[] args = ["/nix/store/abc-x", "it's", "a b", "$HOME", "", "*"];

        var result = await ProcessRunner.ShellAsync(ShellCommand.Join("printf '%s\\n'", args));

        Assert.Equal(string.Join('\n', args) + "\n", result.EnsureSuccess("printf").Stdout);
    }

    [Fact]
    public async Task GzipStdout_FailingCommand_KeepsItsExitStatus()
    {
        var result = await ProcessRunner.ShellAsync("(" + ShellCommand.GzipStdout("echo partial; exit 7") + ") | gzip -dc");

        // The pipeline's status is gzip -d's; run the wrapped part alone for its own status.
        var status = await ProcessRunner.ShellAsync("(" + ShellCommand.GzipStdout("echo partial; exit 7") + ") >/dev/null");
        Assert.Equal("partial\n", result.Stdout);
        Assert.Equal(7, status.ExitCode);
    }
}
