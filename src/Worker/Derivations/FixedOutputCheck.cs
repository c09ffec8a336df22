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
    public static string? CheckKind(FixedOutputHash wanted, string path, string physicalPath)
    {
        if (wanted.Recursive)
            return null;
        var info = new FileInfo(physicalPath);
        var regular = info.Exists && info.LinkTarget is null && (info.UnixFileMode & UnixFileMode.UserExecute) == 0;
        return regular
            ? null
            : $"output path '{path}' should be a non-executable regular file since recursive hashing is not enabled (outputHashMode=flat)";
    }

    /// <summary>
    /// Null when the output has the declared content hash and refers to no store path, else the refusal.
    /// <paramref name="facts"/> are the output's scanned facts (its NAR SHA-256 is reused for <c>r:sha256</c>).
    /// </summary>
    public static async Task<string?> CheckContentAsync(
        string drvPath, FixedOutputHash wanted, PathFacts facts, string physicalPath, CancellationToken cancellationToken)
    {
        // Nix 2.8 has no refusal here: it registers such an output under the path its references give it, which is
        // not the derivation's output path, and reports success with the wanted path still invalid (a flat one
        // aborts nix-build on an assertion). The worker refuses instead, with the message later Nix versions give,
        // and says so before the hash (Nix ≥ 2.9 lets this error override a hash mismatch).
        if (facts.References.Count > 0)
            return $"illegal path references in fixed-output derivation '{drvPath}'";
        var got = wanted is { Recursive: true, Algorithm: OutputHashAlgorithm.Sha256 }
            && NixHash.TryParse(facts.NarHash, out var narHash)
            ? new FixedOutputHash(OutputHashAlgorithm.Sha256, true, narHash.Bytes)
            : await FixedOutputHash.ComputeAsync(physicalPath, wanted.Algorithm, wanted.Recursive, cancellationToken);
        if (got.Hex == wanted.Hex)
            return null;
        // Nix's format string, spacing included ("got:" is right-aligned under "specified:").
        return $"hash mismatch in fixed-output derivation '{drvPath}':\n  specified: {wanted.ToSri()}\n     got:    {got.ToSri()}";
    }
}
