using BuildFarm.Store.Paths;

namespace BuildFarm.Store.Derivations;

/// <summary>A complete derivation made from a spec: its <c>.drv</c> path, model and file contents.</summary>
public sealed record CompiledDerivation(StorePath DrvPath, Derivation Derivation, string Aterm)
{
    public byte[] AtermBytes => NixBytes.Encode(Aterm);

    /// <summary>References of the <c>.drv</c> file (input sources and input derivations).</summary>
    public IReadOnlyList<StorePath> References => DerivationPaths.References(Derivation);
}
