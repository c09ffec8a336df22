using BuildFarm.Store.Derivations;
using BuildFarm.Store.Paths;
using BuildFarm.Testing;

namespace BuildFarm.Store.Tests.Derivations;

/// <summary>Specs compile to exactly the .drv nix-instantiate writes for the equivalent expression.</summary>
[Collection(NixCorpusGroup.Name)]
public sealed class DerivationSpecTests(NixCorpus corpus)
{
    private static readonly string[] SpecAttrs = ["specTool", "specLib", "specApp"];

    private static Task<Derivation> NoInputs(StorePath path, CancellationToken cancellationToken) =>
        throw new FileNotFoundException($"unexpected load of {path}");

    private string AppSpecJson()
    {
        var src = DerivationAterm.Parse(StoreDirectory.Nix, NixCorpus.ReadDrv(corpus.DrvPaths["level1"]), "level1").InputSrcs.Single();
        return """
            {
              "name": "spec-app", "system": "x86_64-linux", "builder": "/bin/sh",
              "args": ["-c", "{{inputs.tool}}/bin/tool {{inputs.lib.dev}}"],
              "env": { "lib": "{{inputs.lib}}", "src": "{{src}}", "MSG": "hello \"world\"\n" },
              "inputSrcs": ["{{src}}"],
              "inputDrvs": {
                "tool": { "spec": { "name": "spec-tool", "system": "x86_64-linux", "builder": "/bin/sh",
                                    "fixedOutput": { "hash": "{{NixCorpus.ToolSri}}", "recursive": true } } },
                "lib": { "spec": { "name": "spec-lib", "system": "x86_64-linux", "builder": "/bin/sh", "args": ["-c", "make"],
                                   "outputs": ["out", "dev"], "requiredSystemFeatures": ["big-parallel"] } }
              }
            }
            """.Replace("{{src}}", src.FullPath, StringComparison.Ordinal)
            .Replace("{{NixCorpus.ToolSri}}", NixCorpus.ToolSri, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Compile_NestedSpecs_EqualNixInstantiate()
    {
        var spec = await DerivationSpecReader.ParseAsync(AppSpecJson(), "/tmp/app.json", CancellationToken.None);
        var compiler = new DerivationSpecCompiler(StoreDirectory.Nix, NoInputs);
        var app = await compiler.CompileAsync(spec, CancellationToken.None);

        // Inputs come first (in key order), the spec itself last.
        Assert.Equal(["spec-lib", "spec-tool", "spec-app"], compiler.Compiled.Select(c => c.Derivation.Name));
        foreach (var attr in SpecAttrs)
        {
            var compiled = compiler.Compiled.Single(c => c.DrvPath == corpus.DrvPaths[attr]);
            Assert.Equal(corpus.DrvPaths[attr], compiled.DrvPath);
            Assert.Equal(NixCorpus.ReadDrv(corpus.DrvPaths[attr]), compiled.AtermBytes);
        }

        Assert.Equal(["big-parallel"], compiler.Compiled[0].Derivation.RequiredSystemFeatures);
        Assert.Same(app, compiler.Compiled[^1]);
    }

    [Fact]
    public async Task Compile_InputByDrvPath_LoadsItAndMatchesNix()
    {
        // level1's twin written as a spec that names Nix's multi.drv and fixed-flat.drv by path.
        var level1 = DerivationAterm.Parse(StoreDirectory.Nix, NixCorpus.ReadDrv(corpus.DrvPaths["level1"]), "level1");
        var json = """
            { "name": "level1", "system": "x86_64-linux", "builder": "/bin/sh",
              "env": { "multi": "{{inputs.m}}", "dev": "{{inputs.m.dev}}", "fixedFlat": "{{inputs.f}}", "src": "@src" },
              "inputSrcs": ["@src"],
              "inputDrvs": { "m": { "drv": "@multi" }, "f": { "drv": "@fixed", "outputs": ["out"] } } }
            """.Replace("@src", level1.InputSrcs.Single().FullPath, StringComparison.Ordinal)
            .Replace("@multi", corpus.DrvPaths["multi"].FullPath, StringComparison.Ordinal)
            .Replace("@fixed", corpus.DrvPaths["fixedFlat"].FullPath, StringComparison.Ordinal);
        var spec = await DerivationSpecReader.ParseAsync(json, "/tmp/level1.json", CancellationToken.None);
        var compiler = new DerivationSpecCompiler(StoreDirectory.Nix, DerivationFiles.StoreLoader(StoreLayout.Create("/nix/store", "/")));
        var compiled = await compiler.CompileAsync(spec, CancellationToken.None);
        Assert.Equal(corpus.DrvPaths["level1"], compiled.DrvPath);
    }

    [Fact]
    public async Task Load_SpecFileRelativeToSpec_ReadsNestedFile()
    {
        using var dir = new TempDirectory("bf-spec");
        Directory.CreateDirectory(dir.Combine("sub"));
        await File.WriteAllTextAsync(dir.Combine("sub", "dep.json"), """{ "name": "dep", "system": "s", "builder": "/b" }""");
        await File.WriteAllTextAsync(dir.Combine("top.json"), """{ "name": "top", "system": "s", "builder": "/b", "inputDrvs": { "d": { "specFile": "sub/dep.json" } } }""");
        var spec = await DerivationSpecReader.LoadAsync(dir.Combine("top.json"), CancellationToken.None);
        Assert.Equal("dep", spec.InputDrvs["d"].Spec!.Name);
    }

    [Theory]
    [InlineData("""{ "system": "s", "builder": "/b" }""", "name: missing")]
    [InlineData("""{ "name": "a b", "system": "s", "builder": "/b" }""", "name: store path name 'a b.drv' contains the forbidden character ' '")]
    [InlineData("""{ "name": "a", "system": "s", "builder": "/b", "args": ["x", 3] }""", "args[1]: expected a string, found the number 3")]
    [InlineData("""{ "name": "a", "system": "s", "builder": "/b", "outptus": ["x"] }""", "outptus: unknown field")]
    [InlineData("""{ "name": "a", "system": "s", "builder": "/b", "outputs": ["out", "out"] }""", "outputs[1]: output 'out' is listed twice")]
    [InlineData("""{ "name": "a", "system": "s", "builder": "/b", "outputs": ["out", "dev"], "fixedOutput": { "hash": "sha256-AAAA" } }""", "outputs: a fixed-output derivation has exactly one output")]
    [InlineData("""{ "name": "a", "system": "s", "builder": "/b", "fixedOutput": { "hash": "abc", "algo": "sha256" } }""", "fixedOutput.hash: hash 'abc' is not a sha256 digest")]
    [InlineData("""{ "name": "a", "system": "s", "builder": "/b", "fixedOutput": { "hash": "abc", "algo": "sha3" } }""", "fixedOutput.algo: unknown hash algorithm 'sha3'")]
    [InlineData("""{ "name": "a", "system": "s", "builder": "/b", "env": { "x": "{{inputs.nope}}" } }""", "env.x: placeholder {{inputs.nope}} names no entry of inputDrvs")]
    [InlineData("""{ "name": "a", "system": "s", "builder": "/b", "env": { "name": "b" } }""", "env.name: is set by the spec itself")]
    [InlineData("""{ "name": "a", "system": "s", "builder": "/b", "inputSrcs": ["/tmp/x"] }""", "inputSrcs[0]: path '/tmp/x' is not in the store directory")]
    [InlineData("""{ "name": "a", "system": "s", "builder": "/b", "inputDrvs": { "d": { } } }""", "inputDrvs.d: give exactly one of")]
    [InlineData("""{ "name": "a", "system": "s", "builder": "/b", "inputDrvs": { "d": { "spec": { "name": "d", "system": "s" } } } }""", "inputDrvs.d.spec.builder: missing")]
    [InlineData("""{ "name": "a", """, "not valid JSON")]
    public async Task Compile_InvalidSpec_ErrorNamesTheField(string json, string expected)
    {
        var e = await Assert.ThrowsAsync<DerivationFormatException>(async () =>
        {
            var spec = await DerivationSpecReader.ParseAsync(json, "/tmp/s.json", CancellationToken.None);
            await new DerivationSpecCompiler(StoreDirectory.Nix, NoInputs).CompileAsync(spec, CancellationToken.None);
        });
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }
}
