using System.Security.Cryptography;
using BuildFarm.Store.Archives;
using BuildFarm.Store.Derivations;
using BuildFarm.Store.Hashing;
using BuildFarm.Store.Local;
using BuildFarm.Store.Paths;
using BuildFarm.Testing;

namespace BuildFarm.Store.Tests.Archives;

/// <summary>What an origin accepts in a build's returned archive, whatever its signatures (see the importer tests in Dispatcher.Tests/Origin).</summary>
public sealed class ReturnedOutputsTests : IDisposable
{
    private readonly TempDirectory _dir = new("returned-outputs");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task CheckPath_PathOfNoOutput_RefusedListingTheOutputs()
    {
        var drv = await CompileAsync(new DerivationSpec { Name = "two", System = "x86_64-linux", Builder = "/bin/sh", Outputs = ["out", "dev"] });
        var stranger = StorePath.Parse(StoreDirectory.Nix, "/nix/store/" + new string('3', 32) + "-stranger");

        var error = new ReturnedOutputs(drv.DrvPath, drv.Derivation).CheckPath(stranger);

        Assert.Equal(
            $"path '{stranger}' is in the returned archive but is not an output of '{drv.DrvPath}' (its outputs: dev {drv.Derivation.Outputs["dev"].Path}, out {drv.Derivation.Outputs["out"].Path})",
            error);
        Assert.Null(new ReturnedOutputs(drv.DrvPath, drv.Derivation).CheckPath(drv.Derivation.Outputs["dev"].Path!));
    }

    [Fact]
    public async Task CheckPath_FixedOutputDeclaredAtAPathItsHashDoesNotGive_Refused()
    {
        var drv = await CompileFixedAsync("src", SHA256.HashData("real\n"u8), recursive: false);
        var elsewhere = StorePath.Parse(StoreDirectory.Nix, "/nix/store/" + new string('3', 32) + "-src");
        var wanted = drv.Derivation.Outputs["out"].FixedHash!;
        // A record whose .drv text puts the fixed output at another derivation's path (a popular fetch, say).
        var tampered = drv.Derivation with { Outputs = drv.Derivation.Outputs.SetItem("out", DerivationOutput.FixedOutput(elsewhere, wanted)) };

        var error = new ReturnedOutputs(drv.DrvPath, tampered).CheckPath(elsewhere);

        Assert.Equal(
            $"fixed output 'out' of '{drv.DrvPath}' is declared at '{elsewhere}', but its declared hash sha256:{wanted.ToSri()} makes it '{drv.Derivation.Outputs["out"].Path}'",
            error);
    }

    [Fact]
    public async Task CheckContentAsync_RecursiveSha256_TakesTheNarHashTheImporterVerified()
    {
        var tree = _dir.Combine("tree");
        Directory.CreateDirectory(tree);
        await File.WriteAllTextAsync(Path.Combine(tree, "a"), "x\n");
        var narHash = new NixHash((await FixedOutputHash.ComputeAsync(tree, OutputHashAlgorithm.Sha256, true, CancellationToken.None)).Digest);
        var drv = await CompileFixedAsync("tree", narHash.Bytes, recursive: true);
        var returned = new ReturnedOutputs(drv.DrvPath, drv.Derivation);
        var path = drv.Derivation.Outputs["out"].Path!;

        Assert.Null(await returned.CheckContentAsync(Info(path, narHash), tree, CancellationToken.None));
        // The content is not hashed again: a NAR hash other than the verified one is what the check compares.
        var error = await returned.CheckContentAsync(Info(path, NixHash.Sha256("another NAR")), tree, CancellationToken.None);
        Assert.StartsWith($"hash mismatch in fixed-output derivation '{drv.DrvPath}':\n  specified: sha256-", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CheckContentAsync_InputAddressedOutput_NotChecked()
    {
        var drv = await CompileAsync(new DerivationSpec { Name = "plain", System = "x86_64-linux", Builder = "/bin/sh" });
        var path = drv.Derivation.Outputs["out"].Path!;

        Assert.Null(await new ReturnedOutputs(drv.DrvPath, drv.Derivation).CheckContentAsync(Info(path, NixHash.Sha256("anything")), _dir.Combine("missing"), CancellationToken.None));
    }

    private static ValidPathInfo Info(StorePath path, NixHash narHash) => new(path, narHash, 0, [], null, [], default);

    private static Task<CompiledDerivation> CompileFixedAsync(string name, byte[] sha256, bool recursive) =>
        CompileAsync(new DerivationSpec
        {
            Name = name, System = "x86_64-linux", Builder = "/bin/sh",
            FixedOutput = new FixedOutputSpec(Convert.ToHexStringLower(sha256), "sha256", recursive),
        });

    private static Task<CompiledDerivation> CompileAsync(DerivationSpec spec) =>
        new DerivationSpecCompiler(StoreDirectory.Nix, (_, _) => throw new InvalidOperationException("no input derivations")).CompileAsync(spec, CancellationToken.None);
}
