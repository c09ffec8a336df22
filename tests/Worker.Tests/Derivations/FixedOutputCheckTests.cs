using BuildFarm.Contracts.Builds;
using BuildFarm.Testing;
using BuildFarm.Worker.Derivations;
using BuildFarm.Worker.Execution;

namespace BuildFarm.Worker.Tests.Derivations;

/// <summary>
/// <see cref="FixedOutputCheck"/> through <see cref="OutputCheckRun"/>, on derivations made by the real
/// nix-instantiate from every <c>outputHash</c> form Nix accepts, with every hash computed by the real
/// <c>nix-hash</c> / <c>nix hash</c>. The "built" output is a tree made here and named as the drv's output.
/// </summary>
public sealed class FixedOutputCheckTests : IDisposable
{
    private readonly TempDirectory _dir = new("bf-fod");

    public static TheoryData<string, string, string> AllForms()
    {
        var data = new TheoryData<string, string, string>();
        foreach (var algo in new[] { "md5", "sha1", "sha256", "sha512" })
        {
            foreach (var mode in new[] { "flat", "recursive" })
            {
                foreach (var form in new[] { "base16", "base32", "base64", "sri" })
                    data.Add(algo, mode, form);
            }
        }

        return data;
    }

    public static TheoryData<string, string> AllAlgorithms()
    {
        var data = new TheoryData<string, string>();
        foreach (var algo in new[] { "md5", "sha1", "sha256", "sha512" })
        {
            data.Add(algo, "flat");
            data.Add(algo, "recursive");
        }

        return data;
    }

    public void Dispose() => _dir.Dispose();

    [Theory]
    [MemberData(nameof(AllForms))]
    public async Task CheckAsync_DeclaredHashMatches_Passes(string algo, string mode, string form)
    {
        var output = MakeOutput(mode, "fixed content\n");
        var hash = await NixHashAsync(output, algo, mode, form);
        // An SRI hash names its algorithm: Nix then needs no outputHashAlgo.
        var plan = await PlanAsync(hash, form == "sri" ? null : algo, mode, output);

        Assert.Null(await CheckAsync(plan));
    }

    [Theory]
    [MemberData(nameof(AllAlgorithms))]
    public async Task CheckAsync_ContentDiffers_FailsWithNixsMessage(string algo, string mode)
    {
        var expected = MakeOutput(mode, "fixed content\n", "expected");
        var declared = await NixHashAsync(expected, algo, mode, "base32");
        var built = MakeOutput(mode, "tampered content\n");
        var plan = await PlanAsync(declared, algo, mode, built);

        var error = await CheckAsync(plan);

        var specified = await NixHashAsync(expected, algo, mode, "sri");
        var got = await NixHashAsync(built, algo, mode, "sri");
        Assert.NotEqual(specified, got);
        Assert.Equal($"hash mismatch in fixed-output derivation '{plan.DrvPath}':\n  specified: {specified}\n     got:    {got}", error);
    }

    [Theory]
    [InlineData("directory")]
    [InlineData("symlink")]
    [InlineData("executable")]
    public async Task CheckAsync_FlatOutputNotANonExecutableFile_IsRefusedWithNixsMessage(string kind)
    {
        var output = _dir.Combine("built");
        switch (kind)
        {
            case "directory":
                Directory.CreateDirectory(output);
                await File.WriteAllTextAsync(Path.Combine(output, "a"), "x\n");
                break;
            case "symlink":
                File.CreateSymbolicLink(output, "/etc/hostname");
                break;
            default:
                await File.WriteAllTextAsync(output, "x\n");
                File.SetUnixFileMode(output, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
                break;
        }

        var plan = await PlanAsync("sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", null, "flat", output);

        Assert.Equal(
            $"output path '{plan.Recipe.Outputs["out"]}' should be a non-executable regular file since recursive hashing is not enabled (outputHashMode=flat)",
            await CheckAsync(plan));
    }

    [Fact]
    public async Task CheckAsync_OutputRefersToAStorePath_IsRefused()
    {
        var output = MakeOutput("recursive", "/nix/store/00000000000000000000000000000000-input\n");
        var hash = await NixHashAsync(output, "sha256", "recursive", "sri");
        var plan = await PlanAsync(hash, null, "recursive", output);

        var error = await CheckAsync(plan, ["/nix/store/00000000000000000000000000000000-input"]);

        Assert.Equal($"illegal path references in fixed-output derivation '{plan.DrvPath}'", error);
    }

    private static Task<string?> CheckAsync(BuildPlan plan, IReadOnlyList<string>? inputs = null) =>
        OutputCheckRun.CheckAsync(
            plan, ["out"], inputs ?? [], (_, _) => Task.FromResult<IReadOnlyDictionary<string, PathFacts>>(new Dictionary<string, PathFacts>()),
            CancellationToken.None);

    /// <summary>A flat output (one file) or a recursive one (a file, an executable and a symlink in a directory).</summary>
    private string MakeOutput(string mode, string content, string name = "built")
    {
        var path = _dir.Combine(name);
        if (mode == "flat")
        {
            File.WriteAllText(path, content);
            return path;
        }

        Directory.CreateDirectory(Path.Combine(path, "bin"));
        File.WriteAllText(Path.Combine(path, "data"), content);
        File.WriteAllText(Path.Combine(path, "bin", "run"), "#!/bin/sh\n");
        File.SetUnixFileMode(Path.Combine(path, "bin", "run"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        File.CreateSymbolicLink(Path.Combine(path, "link"), "data");
        return path;
    }

    /// <summary>The hash the real Nix computes, in the form asked for.</summary>
    private static Task<string> NixHashAsync(string path, string algo, string mode, string form) => form switch
    {
        // nix-hash prints base16 unless told --base32.
        "base16" or "base32" => NixOracle.RunTextAsync(
            "nix-hash", [.. mode == "flat" ? ["--flat"] : Array.Empty<string>(), .. form == "base32" ? ["--base32"] : Array.Empty<string>(), "--type", algo, path]),
        _ => NixOracle.RunTextAsync(
            "nix", "--extra-experimental-features", "nix-command", "hash", mode == "flat" ? "file" : "path", "--type", algo, $"--{form}", path),
    };

    /// <summary>The real nix-instantiate's .drv for a fixed output with these attributes, read as the worker reads a request.</summary>
    private static async Task<BuildPlan> PlanAsync(string outputHash, string? algo, string mode, string builtOutput)
    {
        var attrs = $"outputHash = \"{outputHash}\"; outputHashMode = \"{mode}\";" + (algo is null ? "" : $" outputHashAlgo = \"{algo}\";");
        var expr = $"derivation {{ name = \"bf-fod-{Guid.NewGuid():N}\"; system = \"x86_64-linux\"; builder = \"/bin/sh\"; {attrs} }}";
        var drvPath = await NixOracle.RunTextAsync("nix-instantiate", "--expr", expr);
        var text = Store.Derivations.NixBytes.Decode(await File.ReadAllBytesAsync(drvPath));
        var recipe = new AtermDerivationReader().Read("/nix/store", drvPath, text, out var error) ?? throw new InvalidOperationException(error);
        var physical = new Dictionary<string, string> { ["out"] = builtOutput };
        return new BuildPlan(Guid.NewGuid(), 1, drvPath, "/nix/store", recipe, physical, new BuildLimits(TimeSpan.FromMinutes(1), TimeSpan.Zero));
    }
}
