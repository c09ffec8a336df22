using System.Text;
using System.Text.RegularExpressions;
using BuildFarm.Contracts.Builds;
using BuildFarm.Store.Derivations;
using BuildFarm.Testing;
using BuildFarm.Worker.Configuration;
using BuildFarm.Worker.Derivations;
using BuildFarm.Worker.Execution;
using BuildFarm.Worker.Supervision;
using Microsoft.Extensions.Options;

namespace BuildFarm.Worker.Tests.Derivations;

/// <summary>
/// Issue 19's proof: every derivation of contract.nix is built by the worker's build path (the .drv text read as
/// the worker reads a request, <see cref="BuilderExecutor"/> over the <see cref="UnsandboxedRunner"/> with Nix's environment and build-directory files, the
/// output checks before registration) and by the real nix-build; outputs are compared NAR for NAR, refusals by
/// message. The worker builds first, its outputs are dumped and removed, then Nix builds the same paths.
/// </summary>
public sealed partial class NixContractTests(NixContractCorpus corpus) : IClassFixture<NixContractCorpus>, IDisposable
{
    private const string ImpureValue = "hello";
    private readonly TempDirectory _dir = new("bf19-build");

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData("env")]
    [InlineData("passAsFile")]
    [InlineData("graph")]
    [InlineData("graphDrv")]
    [InlineData("structured")]
    [InlineData("structuredGraphs")]
    [InlineData("argv0")]
    [InlineData("impure")]
    [InlineData("impureIgnored")]
    [InlineData("multi")]
    [InlineData("selfRef")]
    [InlineData("allowedRefsOk")]
    [InlineData("maxClosure")]
    [InlineData("fodFlat")]
    [InlineData("fodRecursive")]
    public async Task Build_SameOutputsAsNixBuild(string attr)
    {
        var drvPath = corpus.DrvPaths[attr];
        var ours = await WorkerBuildAsync(drvPath);
        Assert.True(ours.Error is null, $"worker refused {attr}: {ours.Error}");
        var nix = await NixBuildAsync(drvPath);
        Assert.True(nix.Error is null, $"nix-build failed {attr}: {nix.Error}");
        Assert.Equal(nix.Nars!.Keys.Order(), ours.Nars!.Keys.Order());
        foreach (var (id, nar) in nix.Nars)
        {
            if (!nar.AsSpan().SequenceEqual(ours.Nars[id]))
            {
                await File.WriteAllBytesAsync(Path.Combine(Path.GetTempPath(), $"bf19-{attr}-{id}.worker.nar"), ours.Nars[id]);
                await File.WriteAllBytesAsync(Path.Combine(Path.GetTempPath(), $"bf19-{attr}-{id}.nix.nar"), nar);
            }

            Assert.True(nar.AsSpan().SequenceEqual(ours.Nars[id]), $"{attr}: output '{id}' differs:\nworker: {Printable(ours.Nars[id])}\nnix:    {Printable(nar)}");
        }
    }

    [Theory]
    [InlineData("allowedRefs", "is not allowed to refer to the following paths")]
    [InlineData("disallowedReqs", "is not allowed to refer to the following paths")]
    [InlineData("disallowedRefs", "is not allowed to refer to the following paths")]
    [InlineData("badSpec", "derivation contains an illegal reference specifier 'nonsense'")]
    [InlineData("maxSize", "is too large at")]
    [InlineData("maxClosureBad", "is too large at")]
    [InlineData("cycle", "cycle detected in build of")]
    [InlineData("fodBad", "hash mismatch in fixed-output derivation")]
    [InlineData("fodDir", "should be a non-executable regular file since recursive hashing is not enabled")]
    public async Task Build_RefusedLikeNixBuild(string attr, string kind)
    {
        var drvPath = corpus.DrvPaths[attr];
        var ours = await WorkerBuildAsync(drvPath);
        Assert.NotNull(ours.Error);
        var nix = await NixBuildAsync(drvPath);
        Assert.NotNull(nix.Error);
        Assert.Contains(kind, ours.Error, StringComparison.Ordinal);
        // Nix indents continuation lines of its messages; the words and paths are the same.
        Assert.Contains(Squash(ours.Error), Squash(nix.Error), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Build_BuiltinBuilder_RefusedNamingTheBuilder()
    {
        var ours = await WorkerBuildAsync(corpus.DrvPaths["builtin"]);
        Assert.NotNull(ours.Error);
        Assert.StartsWith("unsupported builtin builder 'buildenv'", ours.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Build_FixedOutputReferringToAnInput_RefusedAsLaterNixRefusesIt()
    {
        // Nix 2.8 registers such an output under another path and leaves the wanted one invalid; the worker refuses.
        var drvPath = corpus.DrvPaths["fodRef"];
        var ours = await WorkerBuildAsync(drvPath);
        Assert.Equal($"illegal path references in fixed-output derivation '{drvPath}'", ours.Error);
    }

    [Fact]
    public void Refusals_NoChrootOnSandboxedWorker_IsNixsMessage()
    {
        var env = new Dictionary<string, string> { ["__noChroot"] = "1" };
        Assert.Null(Refusals.Check("/nix/store/x.drv", "/bin/sh", env, sandboxed: false));
        Assert.Equal(
            "derivation '/nix/store/x.drv' has '__noChroot' set, but that's not allowed when 'sandbox' is 'true'",
            Refusals.Check("/nix/store/x.drv", "/bin/sh", env, sandboxed: true));
    }

    private sealed record Outcome(Dictionary<string, byte[]>? Nars, string? Error);

    [Theory]
    [InlineData("env")]
    [InlineData("passAsFile")]
    [InlineData("structured")]
    [InlineData("structuredGraphs")]
    [InlineData("graphDrv")]
    [InlineData("argv0")]
    public async Task Build_Sandboxed_SameOutputsAsNixBuild(string attr)
    {
        var drvPath = corpus.SandboxedDrvPaths[attr];
        var ours = await WorkerBuildAsync(drvPath, new Worker.Sandbox.SandboxRunner());
        Assert.True(ours.Error is null, $"sandboxed worker refused {attr}: {ours.Error}");
        // The oracle is Nix's own sandbox: same /build, same private store, same uid.
        var nix = await NixBuildAsync(drvPath, sandbox: true);
        Assert.True(nix.Error is null, $"nix-build failed {attr}: {nix.Error}");
        foreach (var (id, nar) in nix.Nars!)
            Assert.True(nar.AsSpan().SequenceEqual(ours.Nars![id]), $"{attr}: output '{id}' differs:\nworker: {Printable(ours.Nars[id])}\nnix:    {Printable(nar)}");
    }

    private async Task<Outcome> WorkerBuildAsync(string drvPath, IBuilderRunner? runner = null)
    {
        // The request's DrvText: the .drv bytes, non-UTF-8 bytes kept (NixBytes).
        var text = NixBytes.Decode(await File.ReadAllBytesAsync(drvPath));
        var recipe = new AtermDerivationReader().Read("/nix/store", drvPath, text, out var error) ?? throw new InvalidOperationException(error);
        foreach (var path in recipe.Outputs.Values)
            Assert.False(Path.Exists(path), $"{path} exists before the worker builds it");

        // What the worker's store holds after pulling the inputs: Nix realises them here, and reports their facts.
        foreach (var input in recipe.InputDrvs)
            await NixOracle.RunTextAsync("nix-store", "--realise", input);
        var roots = recipe.InputSrcs.Concat(await InputDrvOutputsAsync(recipe)).ToList();
        var closure = roots.Count == 0 ? [] : (await NixOracle.RunTextAsync("nix-store", ["--query", "--requisites", .. roots])).Split('\n').ToList();
        var facts = new Dictionary<string, PathFacts>(StringComparer.Ordinal);
        foreach (var p in closure)
        {
            var refs = (await NixOracle.RunTextAsync("nix-store", "--query", "--references", p)).Split('\n', StringSplitOptions.RemoveEmptyEntries);
            var info = System.Text.Json.Nodes.JsonNode.Parse(await NixOracle.RunTextAsync("nix", ["--extra-experimental-features", "nix-command", "path-info", "--json", .. PathInfoArgs(p)]))![0]!;
            facts[p] = new PathFacts(p, await NixOracle.RunTextAsync("nix-store", "--query", "--hash", p),
                long.Parse(await NixOracle.RunTextAsync("nix-store", "--query", "--size", p), System.Globalization.CultureInfo.InvariantCulture), refs,
                info["ca"]?.GetValue<string>())
            {
                DrvOutputs = p.EndsWith(".drv", StringComparison.Ordinal) ? PathFacts.OutputsOf(Store.Paths.StoreDirectory.Nix, p, await File.ReadAllBytesAsync(p)) : null,
            };
        }

        var plan = new BuildPlan(Guid.NewGuid(), 1, drvPath, "/nix/store", recipe, recipe.Outputs, new BuildLimits(TimeSpan.FromMinutes(2), TimeSpan.Zero))
        {
            InputFacts = facts,
            InputPaths = closure,
        };
        var options = Options.Create(new WorkerOptions { BuildDir = _dir.Combine("builds"), BuildCores = 2 });
        var log = new Lines();
        Environment.SetEnvironmentVariable("BF19_IMPURE", ImpureValue);
        try
        {
            var result = await new BuilderExecutor(runner ?? new UnsandboxedRunner(), options).RunAsync(plan, log, CancellationToken.None);
            if (result.Outcome != ExecutionOutcome.Succeeded)
                return new Outcome(null, result.Reason + "\n" + string.Join("\n", log.All));
            var refused = await OutputCheckRun.CheckAsync(
                plan, [.. recipe.Outputs.Keys], closure, (_, _) => Task.FromResult<IReadOnlyDictionary<string, PathFacts>>(facts), CancellationToken.None);
            var nars = new Dictionary<string, byte[]>();
            foreach (var (id, path) in recipe.Outputs)
                nars[id] = await NixOracle.DumpAsync(path);
            return refused is null ? new Outcome(nars, null) : new Outcome(null, refused);
        }
        finally
        {
            foreach (var path in recipe.Outputs.Values)
                BuildDirectories.DeleteStale(path);
        }
    }

    /// <summary><c>nix path-info</c> takes a .drv for its outputs unless told <c>--derivation</c> (which plain paths refuse).</summary>
    private static string[] PathInfoArgs(string path) => path.EndsWith(".drv", StringComparison.Ordinal) ? ["--derivation", path] : [path];

    private static async Task<IEnumerable<string>> InputDrvOutputsAsync(BuildRecipe recipe)
    {
        var drv = recipe.Parsed!;
        var paths = new List<string>();
        foreach (var (input, ids) in drv.InputDrvs)
        {
            var inputDrv = DerivationAterm.Parse(Store.Paths.StoreDirectory.Nix, await File.ReadAllBytesAsync(input.FullPath), input.Name[..^4]);
            paths.AddRange(ids.Select(id => inputDrv.Outputs[id].Path!.FullPath));
        }

        return paths;
    }

    private static async Task<Outcome> NixBuildAsync(string drvPath, bool sandbox = false)
    {
        var run = await ProcessRunner.RunAsync(
            "nix-build", [drvPath, "--no-out-link", "--option", "cores", "2", "--option", "sandbox", sandbox ? "true" : "false"],
            environment: new Dictionary<string, string> { ["BF19_IMPURE"] = ImpureValue });
        if (run.ExitCode != 0)
            return new Outcome(null, run.Stderr);
        var text = NixBytes.Decode(await File.ReadAllBytesAsync(drvPath));
        var drv = DerivationAterm.Parse(Store.Paths.StoreDirectory.Nix, NixBytes.Encode(text), Path.GetFileName(drvPath)[33..^4]);
        var nars = new Dictionary<string, byte[]>();
        foreach (var (id, path) in drv.OutputPaths)
            nars[id] = await NixOracle.DumpAsync(path.FullPath);
        return new Outcome(nars, null);
    }

    private static string Squash(string s) => Whitespace().Replace(s, " ").Trim();

    private static string Printable(byte[] nar) => Encoding.Latin1.GetString(nar).Replace("\0", "", StringComparison.Ordinal);

    [GeneratedRegex(@"\s+")]
    private static partial Regex Whitespace();

    private sealed class Lines : IBuildLog
    {
        public List<string> All { get; } = [];

        public void Line(string text)
        {
            lock (All)
                All.Add(text);
        }
    }
}
