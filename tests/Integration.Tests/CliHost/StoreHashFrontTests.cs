using System.Security.Cryptography;
using BuildFarm.Store.Hashing;
using BuildFarm.Testing;

namespace BuildFarm.Integration.Tests.CliHost;

/// <summary>
/// The published <c>artifacts/bin/buildfarm</c> (the NativeAOT front, src/CliHost; <c>./farm build</c> first): its own
/// <c>store hash</c> against Nix, and its answers against the managed CLI's (<c>buildfarm-cli</c>) for the same
/// command lines: stdout, stderr and exit code byte for byte, errors included.
/// </summary>
public sealed class StoreHashFrontTests
{
    public static TheoryData<string> Cases => new(NarCorpus.Names);

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task StoreHash_CorpusCase_MatchesNixHashAndNixStoreDump(string name)
    {
        using var dir = new TempDirectory("front-hash");
        var path = dir.Combine(name);
        NarCorpus.Create(name, path);

        var base32 = await RunAsync(RepoPaths.Buildfarm, ["store", "hash", "--base32", path]);
        var full = await RunAsync(RepoPaths.Buildfarm, ["store", "hash", path]);

        Assert.Equal((0, ""), (base32.ExitCode, base32.Stderr));
        Assert.Equal(await NixOracle.HashPathAsync(path) + "\n", base32.Stdout);
        var dumpHash = new NixHash(SHA256.HashData(await NixOracle.DumpAsync(path)));
        Assert.Equal((0, dumpHash + "\n"), (full.ExitCode, full.Stdout));
    }

    /// <summary>
    /// Copied alone into an empty directory, the front has no managed CLI to hand over to: that it still hashes shows
    /// the answer came from the native code, without starting .NET.
    /// </summary>
    [Fact]
    public async Task StoreHash_FrontWithoutManagedCli_AnswersItself()
    {
        using var dir = new TempDirectory("front-alone");
        var front = dir.Combine("buildfarm");
        File.Copy(RepoPaths.Buildfarm, front);
        var path = dir.Combine("tree");
        NarCorpus.Create("mixed-tree", path);

        var result = await RunAsync(front, ["--root", "/", "store", "hash", "--base32", path]);

        Assert.Equal((0, await NixOracle.HashPathAsync(path) + "\n", ""), (result.ExitCode, result.Stdout, result.Stderr));
    }

    [Fact]
    public async Task OtherCommand_FrontWithoutManagedCli_Exits127NamingTheManagedCli()
    {
        using var dir = new TempDirectory("front-alone");
        var front = dir.Combine("buildfarm");
        File.Copy(RepoPaths.Buildfarm, front);

        var result = await RunAsync(front, ["--version"]);

        Assert.Equal(127, result.ExitCode);
        Assert.Equal("", result.Stdout);
        Assert.StartsWith($"buildfarm: cannot run the managed CLI {dir.Combine("buildfarm-cli")}: ", result.Stderr, StringComparison.Ordinal);
    }

    /// <summary>Command lines the front serves (hashes, a missing path) and ones it hands over (bad flags, help, other commands).</summary>
    public static TheoryData<string, string[]> CommandLines => new()
    {
        { "nix32 only", ["store", "hash", "--base32", "{tree}"] },
        { "sha256: form, globals first", ["--store-dir", "/nix/store", "--root", "/", "store", "hash", "{tree}"] },
        { "globals after, --opt=value", ["store", "hash", "{tree}", "--root=/", "--base32"] },
        { "a file", ["store", "hash", "{tree}/bin/tool"] },
        { "missing path", ["store", "hash", "{dir}/does-not-exist"] },
        { "missing path with a control character", ["store", "hash", "{dir}/no\u001b[31mpe"] },
        { "missing store path under --root", ["--root", "{dir}/root", "store", "hash", "/nix/store/00000000000000000000000000000000-x"] },
        { "store path under $BUILDFARM_ROOT via FARM_DIR", ["store", "hash", "--base32", "/nix/store/11111111111111111111111111111111-t"] },
        { "bad --type", ["store", "hash", "--type", "md5", "{tree}"] },
        { "unknown flag", ["store", "hash", "--bogus", "{tree}"] },
        { "no path", ["store", "hash"] },
        { "two paths", ["store", "hash", "{tree}", "{tree}"] },
        { "help", ["store", "hash", "--help"] },
        { "response file", ["@{dir}/args.rsp"] },
        { "another store command", ["store", "dump", "{tree}/bin/tool"] },
        { "version", ["--version"] },
    };

    [Theory]
    [MemberData(nameof(CommandLines))]
    public async Task CommandLine_FrontAndManagedCli_AnswerIdentically(string what, string[] template)
    {
        using var dir = new TempDirectory("front-same");
        var tree = dir.Combine("tree");
        NarCorpus.Create("mixed-tree", tree);
        // A farm directory (./farm up) whose env file puts the store under a root: the front must read it as the CLI does.
        var root = dir.Combine("farm-root");
        Directory.CreateDirectory(root + "/nix/store");
        NarCorpus.Create("mixed-tree", root + "/nix/store/11111111111111111111111111111111-t");
        var farm = dir.Combine("farm");
        Directory.CreateDirectory(farm);
        await File.WriteAllTextAsync(Path.Combine(farm, "env"), $"BUILDFARM_STORE_DIR=/nix/store\nBUILDFARM_ROOT={root}\n");
        await File.WriteAllTextAsync(dir.Combine("args.rsp"), $"store\nhash\n--base32\n{tree}\n");
        var args = template.Select(a => a.Replace("{tree}", tree, StringComparison.Ordinal).Replace("{dir}", dir.Path, StringComparison.Ordinal)).ToArray();
        var environment = new Dictionary<string, string> { ["FARM_DIR"] = farm };

        var front = await RunAsync(RepoPaths.Buildfarm, args, environment);
        var managed = await RunAsync(RepoPaths.BuildfarmCli, args, environment);

        Assert.True(managed.ExitCode is 0 or 1, $"{what}: the managed CLI exited {managed.ExitCode}: {managed.Stderr}");
        Assert.Equal(
            (managed.ExitCode, Convert.ToBase64String(managed.StdoutBytes), managed.Stderr),
            (front.ExitCode, Convert.ToBase64String(front.StdoutBytes), front.Stderr));
    }

    private static Task<ProcessResult> RunAsync(string program, string[] args, Dictionary<string, string>? environment = null) =>
        ProcessRunner.RunAsync(program, args, environment: environment, timeout: TimeSpan.FromMinutes(2));
}
