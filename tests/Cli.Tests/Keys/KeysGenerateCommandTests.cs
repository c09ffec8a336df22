using BuildFarm.Store.Signing;
using BuildFarm.Testing;

namespace BuildFarm.Cli.Tests.Keys;

public sealed class KeysGenerateCommandTests
{
    [Fact]
    public async Task Generate_WithFiles_WritesAKeyPairNixAgreesWith()
    {
        using var dir = new TempDirectory("cli-keys");
        var secretFile = dir.Combine("farm.sec");
        var publicFile = dir.Combine("farm.pub");

        var run = await CliRun.RunAsync("keys", "generate", "--name", "farm-1", "--secret-file", secretFile, "--public-file", publicFile);

        Assert.Equal(0, run.ExitCode);
        Assert.Empty(run.Stdout);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(secretFile));
        var nixPublic = await ProcessRunner.RunAsync("nix", ["key", "convert-secret-to-public"], stdin: await File.ReadAllBytesAsync(secretFile));
        Assert.Equal(await File.ReadAllTextAsync(publicFile), nixPublic.EnsureSuccess("nix key convert-secret-to-public").Stdout.Trim());
        Assert.Equal("farm-1", SigningKey.Parse(await File.ReadAllTextAsync(secretFile)).Name);
    }

    [Fact]
    public async Task Generate_WithoutFiles_PrintsSecretThenPublic()
    {
        var run = await CliRun.RunAsync("keys", "generate", "--name", "farm-2");

        var lines = run.StdoutText.Split('\n');
        Assert.Equal(0, run.ExitCode);
        Assert.Equal(SigningKey.Parse(lines[0]).PublicKey.ToString(), VerifyingKey.Parse(lines[1]).ToString());
    }

    [Fact]
    public async Task Generate_ExistingSecretFile_RefusesToOverwrite()
    {
        using var dir = new TempDirectory("cli-keys-exists");
        var secretFile = dir.Combine("farm.sec");
        await File.WriteAllTextAsync(secretFile, "precious");

        var run = await CliRun.RunAsync("keys", "generate", "--name", "farm-3", "--secret-file", secretFile);

        Assert.Equal(1, run.ExitCode);
        Assert.Contains("refusing to overwrite", run.Stderr, StringComparison.Ordinal);
        Assert.Equal("precious", await File.ReadAllTextAsync(secretFile));
    }

    [Fact]
    public async Task Generate_NameWithColon_FailsWithMessage()
    {
        var run = await CliRun.RunAsync("keys", "generate", "--name", "a:b");

        Assert.Equal(1, run.ExitCode);
        Assert.Contains("key name 'a:b'", run.Stderr, StringComparison.Ordinal);
    }
}
