using BuildFarm.Testing;

namespace BuildFarm.Cli.Tests.Keys;

public sealed class KeysPublicCommandTests
{
    [Fact]
    public async Task Public_OfANixSecretKey_PrintsWhatNixDerives()
    {
        using var dir = new TempDirectory("cli-keys-public");
        var secretFile = dir.Combine("farm.sec");
        var secret = await NixOracle.RunTextAsync("nix", "key", "generate-secret", "--key-name", "farm-7");
        await SecretKeyFiles.WriteAsync(secretFile, secret);
        var fromNix = (await ProcessRunner.RunAsync("nix", ["key", "convert-secret-to-public"], stdin: System.Text.Encoding.UTF8.GetBytes(secret)))
            .EnsureSuccess("nix key convert-secret-to-public").Stdout.Trim();

        var run = await CliRun.RunAsync("keys", "public", secretFile);

        Assert.Equal(0, run.ExitCode);
        Assert.StartsWith("farm-7:", fromNix, StringComparison.Ordinal);
        Assert.Equal(fromNix, run.StdoutText);
    }

    [Fact]
    public async Task Public_OfAPublicKey_FailsNamingTheFile()
    {
        using var dir = new TempDirectory("cli-keys-public-bad");
        var file = dir.Combine("farm.pub");
        await File.WriteAllTextAsync(file, "farm-1:q5qAfa6NdRZOx/iro8SUYSBQBd2F3vVCF9tdutApkbw=\n");

        var run = await CliRun.RunAsync("keys", "public", file);

        Assert.Equal(1, run.ExitCode);
        Assert.Contains($"buildfarm keys public: '{file}' is not a secret key", run.Stderr, StringComparison.Ordinal);
        Assert.Empty(run.Stdout);
    }

    [Fact]
    public async Task Public_MissingFile_FailsNamingIt()
    {
        var run = await CliRun.RunAsync("keys", "public", "/nonexistent/farm.sec");

        Assert.Equal(1, run.ExitCode);
        Assert.Contains("cannot read secret key file '/nonexistent/farm.sec'", run.Stderr, StringComparison.Ordinal);
    }
}
