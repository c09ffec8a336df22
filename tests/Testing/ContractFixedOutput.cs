namespace BuildFarm.Testing;

/// <summary>
/// The tree that <c>fodRecursive</c> in tests/Worker.Tests/Derivations/contract.nix builds, made here, and its NAR
/// hash from the real <c>nix-hash</c>: the derivation's <c>outputHash</c> (passed as <c>--argstr fodTreeHash</c>).
/// </summary>
public static class ContractFixedOutput
{
    public static async Task<string> TreeHashAsync(string workDir)
    {
        var tree = Path.Combine(workDir, "fod-tree");
        Directory.CreateDirectory(tree);
        await File.WriteAllTextAsync(Path.Combine(tree, "a"), "fixed-recursive\n");
        File.CreateSymbolicLink(Path.Combine(tree, "l"), "a");
        return await NixOracle.HashPathAsync(tree);
    }
}
