using System.Collections.Immutable;
using BuildFarm.Store.Hashing;

namespace BuildFarm.Store.Derivations;

/// <summary>
/// Nix's <c>DrvHash</c>: per output, the hash that input-addressed output paths and dependants' hashes are built
/// from. For a fixed-output derivation it is <c>sha256("fixed:out:&lt;r:algo&gt;:&lt;hex&gt;:&lt;path&gt;")</c>; otherwise
/// every output shares the hash of the ATerm with inputs replaced by their own hashes.
/// <see cref="IsDeferred"/> is true when the paths cannot be known before building (floating CA or impure inputs).
/// </summary>
public sealed record DerivationHashModulo(ImmutableSortedDictionary<string, NixHash> OutputHashes, bool IsDeferred)
{
    public bool Equals(DerivationHashModulo? other) =>
        other is not null && IsDeferred == other.IsDeferred && OutputHashes.SequenceEqual(other.OutputHashes);

    public override int GetHashCode() => HashCode.Combine(OutputHashes.Count, IsDeferred);
}
