using BuildFarm.Testing;

namespace BuildFarm.Cli.Tests.Store;

public sealed class StoreDumpAndHashCommandTests
{
    private const string Digest = "0123456789abcdfghijklmnpqrsvwxyz";

    [Fact]
    public async Task Dump_LiteralPath_WritesNixStoreDumpBytes()
    {
        using var dir = new TempDirectory("cli-dump");
        var path = CreateTree(dir.Combine("tree"));

        var run = await CliRun.RunAsync("--root", "/", "store", "dump", path);

        Assert.Equal(0, run.ExitCode);
        Assert.Equal(await NixOracle.DumpAsync(path), run.Stdout);
    }

    [Fact]
    public async Task Dump_LogicalStorePath_IsResolvedUnderTheRoot()
    {
        using var root = new TempDirectory("cli-root");
        var physical = CreateTree(root.Combine("nix", "store", Digest + "-tree"));

        var run = await CliRun.RunAsync("--root", root.Path, "--store-dir", "/nix/store", "store", "dump", "/nix/store/" + Digest + "-tree");

        Assert.Equal(0, run.ExitCode);
        Assert.Equal(await NixOracle.DumpAsync(physical), run.Stdout);
    }

    [Fact]
    public async Task Hash_Path_PrintsSha256Nix32LikeNixHash()
    {
        using var dir = new TempDirectory("cli-hash");
        var path = CreateTree(dir.Combine("tree"));
        var expected = await NixOracle.HashPathAsync(path);

        var full = await CliRun.RunAsync("--root", "/", "store", "hash", path);
        var bare = await CliRun.RunAsync("--root", "/", "store", "hash", "--base32", path);

        Assert.Equal("sha256:" + expected, full.StdoutText);
        Assert.Equal(expected, bare.StdoutText);
    }

    [Fact]
    public async Task Hash_MissingPath_FailsWithMessage()
    {
        using var dir = new TempDirectory("cli-missing");

        var run = await CliRun.RunAsync("--root", dir.Path, "store", "hash", "/nix/store/" + Digest + "-gone");

        Assert.Equal(1, run.ExitCode);
        Assert.Contains("exists neither under the store root", run.Stderr, StringComparison.Ordinal);
        Assert.Empty(run.Stdout);
    }

    private static string CreateTree(string path)
    {
        Directory.CreateDirectory(Path.Combine(path, "bin"));
        File.WriteAllText(Path.Combine(path, "bin", "run"), "#!/bin/sh\nexit 0\n");
        File.SetUnixFileMode(Path.Combine(path, "bin", "run"), (UnixFileMode)0b111_101_101);
        File.WriteAllText(Path.Combine(path, "README"), "a tree\n");
        File.CreateSymbolicLink(Path.Combine(path, "latest"), "bin/run");
        return path;
    }
}
