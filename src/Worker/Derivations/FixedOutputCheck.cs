using BuildFarm.Store.Derivations;
using BuildFarm.Store.Hashing;
using BuildFarm.Worker.Execution;

namespace BuildFarm.Worker.Derivations;

/// <summary>
/// Nix 2.8's checks of a fixed output (<c>registerOutputs</c>, <c>DerivationOutputCAFixed</c>): a flat output must be
/// a non-executable regular file, and the content hash (the file's bytes when flat, its NAR when recursive, with the
/// declared algorithm) must be the declared one. Messages are Nix's, word for word. Run before anything is registered:
/// an output that fails never becomes valid, so it is never signed, served or imported at an origin.
/// </summary>
internal static class FixedOutputCheck
{
    /// <summary>
    /// The fixed outputs among <paramref name="outputIds"/> (id → declared hash), from the parsed <c>.drv</c>. A recipe
    /// without a parsed derivation (built by hand in tests) declares none.
    /// </summary>
    public static IReadOnlyDictionary<string, FixedOutputHash> Declared(BuildRecipe recipe, IEnumerable<string> outputIds)
    {
        var declared = new Dictionary<string, FixedOutputHash>(StringComparer.Ordinal);
        if (recipe.Parsed is not { } drv)
            return declared;
        foreach (var id in outputIds)
        {
            if (drv.Outputs.TryGetValue(id, out var output) && output.FixedHash is { } hash)
                declared[id] = hash;
        }

        return declared;
    }

    /// <summary>
    /// Null when the output's kind suits its mode, else Nix's refusal of a flat output that is a directory, a symlink
    /// or an executable file (checked before the output checks, as Nix does). <paramref name="path"/> is the logical
    /// path Nix names.
    /// </summary>
    public static string? CheckKind(FixedOutputHash wanted, string path, string physicalPath) =>
        FixedOutputVerifier.CheckKind(wanted, path, physicalPath);

    /// <summary>
    /// Null when the output has the declared content hash and refers to no store path, else the refusal (the same
    /// verifier the origin runs again before it imports the output). <paramref name="facts"/> are the output's
    /// scanned facts (its NAR SHA-256 is reused for <c>r:sha256</c>).
    /// </summary>
    /// <remarks>
    /// Nix 2.8 has no refusal for references: it registers such an output under the path its references give it and
    /// reports success with the wanted path still invalid (a flat one aborts nix-build on an assertion). The worker
    /// refuses instead, with the message later Nix versions give, before the hash (Nix ≥ 2.9 lets it override a mismatch).
    /// </remarks>
    public static async Task<string?> CheckContentAsync(
        string drvPath, FixedOutputHash wanted, PathFacts facts, string physicalPath, CancellationToken cancellationToken)
    {
        if (facts.References.Count > 0)
            return FixedOutputVerifier.IllegalReferences(drvPath);
        NixHash? narHash = NixHash.TryParse(facts.NarHash, out var known) ? known : null;
        return FixedOutputVerifier.Mismatch(drvPath, wanted, await FixedOutputVerifier.ContentHashAsync(wanted, physicalPath, narHash, cancellationToken));
    }
}
