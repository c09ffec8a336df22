using BuildFarm.Store.Hashing;
using BuildFarm.Store.Paths;
using BuildFarm.Store.Signing;

namespace BuildFarm.Store.Local;

/// <summary>What the store knows about a valid path (one row of its database).</summary>
public sealed record ValidPathInfo(
    StorePath Path,
    NixHash NarHash,
    long NarSize,
    IReadOnlyList<StorePath> References,
    StorePath? Deriver,
    IReadOnlyList<string> Signatures,
    DateTimeOffset RegistrationTime)
{
    /// <summary>
    /// Nix's <c>ca</c> column: the path's content address (<c>fixed:r:sha256:…</c>, <c>text:sha256:…</c>) when the
    /// store records one. Only the machine's Nix store does; BuildFarm's own store keeps none (null).
    /// </summary>
    public string? ContentAddress { get; init; }

    /// <summary>The text a signature over this path signs (<c>1;path;sha256:…;size;refs</c>).</summary>
    public string Fingerprint => NarInfoFingerprint.Compute(Path, NarHash, NarSize, References);
}
