using System.Text.Json;
using System.Text.RegularExpressions;
using BuildFarm.Testing;

namespace BuildFarm.Cli.Tests.Broker;

public sealed class BrokerCommandsTests
{
    [Fact]
    public async Task User_Worker_PrintsUserAndRegexesThatMatchItsOwnNamesOnly()
    {
        var result = await CliRun.RunAsync("broker", "user", "worker", "builder-7");

        Assert.Equal(0, result.ExitCode);
        var lines = result.StdoutText.Split('\n');
        Assert.Equal("buildfarm-worker-builder-7", lines[0]);
        var (configure, write, read) = (new Regex(lines[1]), new Regex(lines[2]), new Regex(lines[3]));
        Assert.Matches(write, "BuildFarm.Contracts.Builds:BuildSucceeded");
        Assert.Matches(write, "buildfarm.worker.builder-7.control");
        Assert.DoesNotMatch(write, "buildfarm.builds");
        Assert.DoesNotMatch(write, "BuildFarm.Contracts.Workers:DrainWorker");
        Assert.DoesNotMatch(write, "buildfarm.worker.builder-8.control");
        Assert.DoesNotMatch(write, "amq.default");
        Assert.Matches(read, "buildfarm.build.x86_64-linux.kvm");
        Assert.DoesNotMatch(read, "buildfarm.worker.builder-8.control");
        Assert.DoesNotMatch(configure, "buildfarm.worker.builder-8.control");
    }

    [Fact]
    public async Task User_WorkerWithoutName_FailsSayingSo()
    {
        var result = await CliRun.RunAsync("broker", "user", "worker");

        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("give the worker's NAME", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Definitions_GeneratesPasswordsOnceAndPrintsOnlyTheirHashes()
    {
        using var dir = new TempDirectory("broker-defs");
        var first = await CliRun.RunAsync("broker", "definitions", "--secrets-dir", dir.Path, "--dispatcher", "--worker", "a");
        var password = File.ReadAllText(dir.Combine("buildfarm-worker-a.password"));
        var second = await CliRun.RunAsync("broker", "definitions", "--secrets-dir", dir.Path, "--worker", "a");

        Assert.Equal((0, 0), (first.ExitCode, second.ExitCode));
        Assert.Equal(password, File.ReadAllText(dir.Combine("buildfarm-worker-a.password")));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(dir.Combine("buildfarm-worker-a.password")));
        Assert.DoesNotContain(password.Trim(), first.StdoutText, StringComparison.Ordinal);
        var users = JsonDocument.Parse(first.StdoutText).RootElement.GetProperty("users").EnumerateArray().ToList();
        Assert.Equal(["buildfarm-dispatcher", "buildfarm-worker-a"], users.Select(u => u.GetProperty("name").GetString()));
        Assert.All(users, u => Assert.Equal("rabbit_password_hashing_sha256", u.GetProperty("hashing_algorithm").GetString()));
    }
}
