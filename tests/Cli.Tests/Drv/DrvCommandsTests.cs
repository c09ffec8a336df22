using System.Text.Json.Nodes;
using BuildFarm.Cli.Tests.Store;
using BuildFarm.Testing;

namespace BuildFarm.Cli.Tests.Drv;

/// <summary>
/// <c>buildfarm drv …</c> against nix-instantiate (one call for the fixture, one for nix show-derivation):
/// a top derivation using a multi-output one and a fixed-output one, and spec twins of them.
/// </summary>
public sealed class DrvCommandsTests(DrvCommandsTests.NixDrvs nix) : IClassFixture<DrvCommandsTests.NixDrvs>, IDisposable
{
    private readonly TempDirectory _dir = new("bf-cli-drv");
    private readonly string _top = nix.Top;
    private readonly string _dep = nix.Dep;
    private readonly string _fetch = nix.Fetch;

    public void Dispose() => _dir.Dispose();

    /// <summary>The .drv files nix-instantiate writes for the expression (one call for the whole class).</summary>
    public sealed class NixDrvs : IAsyncLifetime
    {
        private const string Expression = """
            let mk = attrs: derivation ({ system = "x86_64-linux"; builder = "/bin/sh"; } // attrs);
            in rec {
              dep = mk { name = "cli-dep"; outputs = [ "out" "bin" ]; args = [ "-c" "tab\there \"q\"" ]; };
              fetch = mk { name = "cli-fetch"; outputHashAlgo = "sha1"; outputHash = "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d"; };
              top = mk { name = "cli-top"; inherit dep fetch; tool = dep.bin; requiredSystemFeatures = [ "kvm" ]; };
            }
            """;

        public string Top { get; private set; } = "";

        public string Dep { get; private set; } = "";

        public string Fetch { get; private set; } = "";

        public async Task InitializeAsync()
        {
            using var dir = new TempDirectory("bf-cli-nix");
            var file = dir.Combine("cli.nix");
            await File.WriteAllTextAsync(file, Expression);
            var lines = (await NixOracle.RunTextAsync("nix-instantiate", file, "-A", "top", "-A", "dep", "-A", "fetch")).Split('\n');
            (Top, Dep, Fetch) = (lines[0].Trim(), lines[1].Trim(), lines[2].Trim());
        }

        public Task DisposeAsync() => Task.CompletedTask;
    }

    [Fact]
    public async Task Show_NixDrv_EqualsNixShowDerivation()
    {
        var run = await CliRun.RunAsync("--root", "/", "drv", "show", _top);
        Assert.Equal(0, run.ExitCode);
        var expected = await NixOracle.RunTextAsync("nix", "show-derivation", _top);
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(expected), JsonNode.Parse(run.StdoutText)), run.StdoutText);
    }

    [Fact]
    public async Task Outputs_NixDrv_PrintsIdAndPathPerOutput()
    {
        var run = await CliRun.RunAsync("--root", "/", "drv", "outputs", _dep);
        Assert.Equal(0, run.ExitCode);
        var text = await File.ReadAllTextAsync(_dep);
        var lines = run.StdoutText.Split('\n');
        Assert.Equal(2, lines.Length);
        Assert.StartsWith("bin /nix/store/", lines[0], StringComparison.Ordinal);
        Assert.StartsWith("out /nix/store/", lines[1], StringComparison.Ordinal);
        Assert.All(lines, l => Assert.Contains($"\"{l.Split(' ')[1]}\"", text, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Path_CopyWithPlainName_UsesEnvNameAndGivesNixsPath()
    {
        var copy = _dir.Combine("anything.drv");
        File.Copy(_top, copy);
        var run = await CliRun.RunAsync("--root", "/", "drv", "path", copy);
        Assert.Equal(0, run.ExitCode);
        Assert.Equal(_top, run.StdoutText);
    }

    [Fact]
    public async Task Add_SpecWithSpecFileAndDrvInput_WritesNixsDrvsIntoTheRoot()
    {
        var root = _dir.Combine("root");
        await File.WriteAllTextAsync(_dir.Combine("dep.json"), """
            { "name": "cli-dep", "system": "x86_64-linux", "builder": "/bin/sh", "args": ["-c", "tab\there \"q\""], "outputs": ["out", "bin"] }
            """);
        await File.WriteAllTextAsync(_dir.Combine("top.json"), """
            { "name": "cli-top", "system": "x86_64-linux", "builder": "/bin/sh",
              "env": { "dep": "{{inputs.dep}}", "tool": "{{inputs.dep.bin}}", "fetch": "{{inputs.fetch}}" },
              "inputDrvs": { "dep": { "specFile": "dep.json" }, "fetch": { "drv": "{{_fetch}}" } },
              "requiredSystemFeatures": ["kvm"] }
            """.Replace("{{_fetch}}", _fetch, StringComparison.Ordinal));

        var run = await CliRun.RunAsync("--root", root, "drv", "add", _dir.Combine("top.json"));

        Assert.True(run.ExitCode == 0, run.Stderr);
        Assert.Equal(_top, run.StdoutText);
        foreach (var drv in new[] { _top, _dep })
            Assert.Equal(await File.ReadAllBytesAsync(drv), await File.ReadAllBytesAsync(root + drv));
        // The fetch input came from /nix/store (absent under the root) and was added with the rest of the closure.
        Assert.Equal(await File.ReadAllBytesAsync(_fetch), await File.ReadAllBytesAsync(root + _fetch));
        var info = await CliRun.RunAsync("--root", root, "store", "info", _top);
        Assert.True(info.ExitCode == 0, info.Stderr);
        Assert.Contains(Path.GetFileName(_fetch), info.StdoutText, StringComparison.Ordinal);

        // Inputs of a .drv under the root resolve from the physical store first.
        var outputs = await CliRun.RunAsync("--root", root, "drv", "outputs", root + _top);
        Assert.True(outputs.ExitCode == 0, outputs.Stderr);
        Assert.StartsWith("out /nix/store/", outputs.StdoutText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Outputs_InputOnlyUnderTheRoot_IsResolvedThere()
    {
        var root = _dir.Combine("root2");
        await File.WriteAllTextAsync(_dir.Combine("cli-solo-src.txt"), "a source only nix-store --add put in /nix/store\n");
        var src = await NixOracle.RunTextAsync("nix-store", "--add", _dir.Combine("cli-solo-src.txt"));
        await File.WriteAllTextAsync(_dir.Combine("solo.json"), """
            { "name": "cli-solo-top", "system": "s", "builder": "/b", "env": { "d": "{{inputs.d}}", "src": "@src" }, "inputSrcs": ["@src"],
              "inputDrvs": { "d": { "spec": { "name": "cli-solo-dep-not-in-nix-store", "system": "s", "builder": "/b" } } } }
            """.Replace("@src", src, StringComparison.Ordinal));
        var add = await CliRun.RunAsync("--root", root, "drv", "add", _dir.Combine("solo.json"));
        Assert.True(add.ExitCode == 0, add.Stderr);
        // The source was copied from /nix/store into the root's store under the same path.
        Assert.Equal(await File.ReadAllBytesAsync(src), await File.ReadAllBytesAsync(root + src));

        var outputs = await CliRun.RunAsync("--root", root, "drv", "outputs", root + add.StdoutText);
        Assert.True(outputs.ExitCode == 0, outputs.Stderr);
        Assert.Matches("^out /nix/store/[0-9a-z]{32}-cli-solo-top$", outputs.StdoutText);

        // Without the root, the input cannot be found: a clear error, exit 1.
        var missing = await CliRun.RunAsync("--root", "/", "drv", "outputs", root + add.StdoutText);
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains("cli-solo-dep-not-in-nix-store.drv is neither at", missing.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Show_MalformedDrv_ExitsOneWithOffset()
    {
        var bad = _dir.Combine("bad.drv");
        await File.WriteAllTextAsync(bad, "Derive([(\"out\"]");
        var run = await CliRun.RunAsync("--root", "/", "drv", "show", bad);
        Assert.Equal(1, run.ExitCode);
        Assert.Equal($"buildfarm drv show: {bad}: at byte 14: expected ',' after the output name, but found ']'\n", run.Stderr);
        Assert.Empty(run.Stdout);
    }

    [Fact]
    public async Task Add_InvalidSpec_ExitsOneNamingTheField()
    {
        var spec = _dir.Combine("bad.json");
        await File.WriteAllTextAsync(spec, """{ "name": "x", "system": "s", "builder": "/b", "outputs": ["out", "drv"] }""");
        var run = await CliRun.RunAsync("--root", _dir.Combine("root3"), "drv", "add", spec);
        Assert.Equal(1, run.ExitCode);
        Assert.Contains("outputs[1]: 'drv' is not a valid output name", run.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Path_MissingFile_ExitsOne()
    {
        var run = await CliRun.RunAsync("--root", "/", "drv", "path", _dir.Combine("nope.drv"));
        Assert.Equal(1, run.ExitCode);
        Assert.Contains("nope.drv", run.Stderr, StringComparison.Ordinal);
    }
}
