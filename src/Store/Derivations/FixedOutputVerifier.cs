using BuildFarm.Store.Hashing;

namespace BuildFarm.Store.Derivations;

/// <summary>
/// Nix 2.8's checks that a fixed output holds what its derivation declares (<c>registerOutputs</c>,
/// <c>DerivationOutputCAFixed</c>), on the file system object at a physical path: a flat output must be a
/// non-executable regular file, it may refer to no store path, and its content hash (the file's bytes when flat, its
/// NAR when recursive, with the declared algorithm) must be the declared one. The messages are Nix's, word for word.
/// </summary>
public static class FixedOutputVerifier
{
    /// <summary>
    /// Null when <paramref name="physicalPath"/> holds the declared content of the fixed output <paramref name="path"/>
    /// (the logical path Nix names) of <paramref name="drvPath"/>; else the first refusal, in Nix's order.
    /// <paramref name="narHash"/>, when the caller already has the object's NAR SHA-256, spares hashing it again for
    /// <c>r:sha256</c>.
    /// </summary>
    public static async Task<string?> CheckAsync(
        string drvPath, FixedOutputHash wanted, string path, string physicalPath, int referenceCount, NixHash? narHash, CancellationToken cancellationToken)
    {
        if (CheckKind(wanted, path, physicalPath) is { } kind)
            return kind;
        if (referenceCount > 0)
            return IllegalReferences(drvPath);
        return Mismatch(drvPath, wanted, await ContentHashAsync(wanted, physicalPath, narHash, cancellationToken));
    }

    /// <summary>
    /// Null when the object's kind suits the mode, else Nix's refusal of a flat output that is a directory, a symlink
    /// or an executable file.
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
    /// Nix 2.8 has no refusal for a fixed output with references: it registers it under another path and reports
    /// success with the wanted path still invalid. This is the message later Nix versions give.
    /// </summary>
    public static string IllegalReferences(string drvPath) => $"illegal path references in fixed-output derivation '{drvPath}'";

    /// <summary>What the object hashes to in the declared mode and algorithm; a known NAR SHA-256 is reused for <c>r:sha256</c>.</summary>
    public static async Task<FixedOutputHash> ContentHashAsync(FixedOutputHash wanted, string physicalPath, NixHash? narHash, CancellationToken cancellationToken) =>
        wanted is { Recursive: true, Algorithm: OutputHashAlgorithm.Sha256 } && narHash is { } known
            ? new FixedOutputHash(OutputHashAlgorithm.Sha256, true, known.Bytes)
            : await FixedOutputHash.ComputeAsync(physicalPath, wanted.Algorithm, wanted.Recursive, cancellationToken);

    /// <summary>Null when <paramref name="got"/> is the declared hash, else Nix's mismatch message.</summary>
    public static string? Mismatch(string drvPath, FixedOutputHash wanted, FixedOutputHash got) =>
        got.Hex == wanted.Hex && got.Algorithm == wanted.Algorithm
            ? null
            // Nix's format string, spacing included ("got:" is right-aligned under "specified:").
            : $"hash mismatch in fixed-output derivation '{drvPath}':\n  specified: {wanted.ToSri()}\n     got:    {got.ToSri()}";
}
