using System.Text;
using System.Text.Json;
using BuildFarm.Testing;

namespace BuildFarm.Integration.Tests.Hook;

/// <summary>
/// Issue 19 through the daemon build hook: the real nix-build (<c>--max-jobs 0</c>) hands derivations of
/// tests/Worker.Tests/Derivations/contract.nix to the farm; Nix's own build of the same derivations in a second store
/// (same store directory, own state and files) gives the same NARs, and the same refusal.
/// </summary>
[Collection(NixHookFarmDefinition.Name)]
public sealed class DerivationContractHookTests(NixHookFarmFixture farm)
{
    [Fact]
    public async Task NixBuild_ContractCorpusThroughHook_SameNarsAndRefusalAsNix()
    {
        var nonce = Guid.NewGuid().ToString("N")[..10];
        var scratch = farm.Scratch("bf19-" + nonce);
        var reference = $"local?store=/nix/store&state={Path.Combine(scratch, "ref-state")}&real={Path.Combine(scratch, "ref-store")}";
        var file = Path.Combine(scratch, "contract.nix");
        // With its Latin-1 bytes: passAsFile's text and env's values reach the builder unaltered (DrvText's base64 form).
        await ContractCorpusSource.WriteAsync(file, new string('0', 64));
        (await ProcessRunner.RunAsync("nix", ["--extra-experimental-features", "nix-command", "copy", "--no-check-sigs", "--to", reference, farm.Busybox])).EnsureSuccess("nix copy busybox (reference)");
        string[] common = [file, "--argstr", "nonce", nonce, "--argstr", "busybox", farm.Busybox];

        foreach (var attr in new[]
                 {
                     "passAsFile", "env", "graph", "multi", "graphDrv", "structured", "structuredGraphs", "argv0", "impureIgnored", "selfRef",
                     "allowedRefsOk", "maxClosure", "fodFlat",
                 })
        {
            var built = await ProcessRunner.RunAsync("nix-build", [.. common, "-A", attr, "--max-jobs", "0", "--option", "substituters", "", "--no-out-link", "--option", "build-hook", farm.HookScript], timeout: TimeSpan.FromMinutes(4));
            Assert.True(built.ExitCode == 0, $"{attr}: nix-build through the hook exited {built.ExitCode}:\n{built.Stderr}\n{farm.DiagnosticText()}");
            var drv = await NixOracle.RunTextAsync("nix-instantiate", [.. common, "-A", attr]);
            (await ProcessRunner.RunAsync("nix-store", ["--store", reference, "--realise", await InstantiateInAsync(reference, common, attr)], timeout: TimeSpan.FromMinutes(2)))
                .EnsureSuccess($"{attr}: nix-store --realise (reference)");
            foreach (var output in (await NixOracle.RunTextAsync("nix-store", "--query", "--outputs", drv)).Split('\n'))
                Assert.Equal(await NarHashAsync(reference, output), await NarHashAsync("auto", output));
        }

        var refused = await ProcessRunner.RunAsync("nix-build", [.. common, "-A", "allowedRefs", "--max-jobs", "0", "--option", "substituters", "", "--no-out-link", "--option", "build-hook", farm.HookScript], timeout: TimeSpan.FromMinutes(4));
        var nix = await ProcessRunner.RunAsync("nix-store", ["--store", reference, "--realise", await InstantiateInAsync(reference, common, "allowedRefs")], timeout: TimeSpan.FromMinutes(2));
        var outPath = await NixOracle.RunTextAsync("nix-store", "--query", "--outputs", await NixOracle.RunTextAsync("nix-instantiate", [.. common, "-A", "allowedRefs"]));
        var message = $"output '{outPath}' is not allowed to refer to the following paths";
        Assert.NotEqual(0, refused.ExitCode);
        Assert.Contains(message, nix.Stderr, StringComparison.Ordinal);
        Assert.Contains(message, refused.Stderr, StringComparison.Ordinal);
        Assert.NotEqual(0, (await ProcessRunner.RunAsync("nix-store", ["--check-validity", outPath])).ExitCode);

        // Every other refusal of the corpus: the same kind of failure from the farm (through the hook) as from Nix.
        foreach (var (attr, kind) in new[]
                 {
                     ("disallowedReqs", "is not allowed to refer to the following paths"), ("disallowedRefs", "is not allowed to refer to the following paths"),
                     ("badSpec", "derivation contains an illegal reference specifier 'nonsense'"), ("maxSize", "is too large at"),
                     ("maxClosureBad", "is too large at"), ("cycle", "cycle detected in build of"), ("fodBad", "hash mismatch in fixed-output derivation"),
                     ("fodDir", "should be a non-executable regular file since recursive hashing is not enabled"),
                 })
        {
            var ours = await ProcessRunner.RunAsync("nix-build", [.. common, "-A", attr, "--max-jobs", "0", "--option", "substituters", "", "--no-out-link", "--option", "build-hook", farm.HookScript], timeout: TimeSpan.FromMinutes(4));
            var theirs = await ProcessRunner.RunAsync("nix-store", ["--store", reference, "--realise", await InstantiateInAsync(reference, common, attr)], timeout: TimeSpan.FromMinutes(2));
            Assert.True(ours.ExitCode != 0, $"{attr}: the farm built what Nix refuses");
            Assert.True(theirs.ExitCode != 0, $"{attr}: Nix built it");
            Assert.Contains(kind, theirs.Stderr, StringComparison.Ordinal);
            Assert.True(ours.Stderr.Contains(kind, StringComparison.Ordinal), $"{attr}: expected '{kind}' from the farm:\n{ours.Stderr}");
            foreach (var output in (await NixOracle.RunTextAsync("nix-store", "--query", "--outputs", await NixOracle.RunTextAsync("nix-instantiate", [.. common, "-A", attr]))).Split('\n'))
                Assert.NotEqual(0, (await ProcessRunner.RunAsync("nix-store", ["--check-validity", output])).ExitCode);
        }
    }

    private static async Task<string> InstantiateInAsync(string store, string[] common, string attr) =>
        (await ProcessRunner.RunAsync("nix-instantiate", ["--store", store, .. common, "-A", attr])).EnsureSuccess("nix-instantiate (reference)").Stdout.Trim();

    private static async Task<string?> NarHashAsync(string store, string path) =>
        JsonDocument.Parse((await ProcessRunner.RunAsync("nix", ["--extra-experimental-features", "nix-command", "path-info", "--store", store, "--json", path]))
            .EnsureSuccess("nix path-info " + path).Stdout).RootElement[0].GetProperty("narHash").GetString();
}
