using BuildFarm.Store.Derivations;
using BuildFarm.Store.Paths;

namespace BuildFarm.Worker.Derivations;

/// <summary>What the worker's store knows of one valid input path (for <c>exportReferencesGraph</c>).</summary>
/// <param name="Path">Logical store path.</param>
/// <param name="NarHash"><c>sha256:&lt;nix32&gt;</c>.</param>
/// <param name="NarSize">NAR size in bytes.</param>
/// <param name="References">Logical store paths it refers to.</param>
/// <param name="Ca">Its content address (<c>fixed:r:sha256:…</c>, <c>text:sha256:…</c>) as the origin's store records it, when it does.</param>
internal sealed record PathFacts(string Path, string NarHash, long NarSize, IReadOnlyList<string> References, string? Ca = null)
{
    /// <summary>
    /// For a <c>.drv</c>: the paths of its outputs (null for an output without a path, a content-addressed
    /// derivation's), which Nix's <c>exportReferences</c> adds with their closures; null for any other path.
    /// </summary>
    public IReadOnlyList<string?>? DrvOutputs { get; init; }

    /// <summary>The output paths of the derivation whose file holds <paramref name="drvBytes"/>, in output-id order.</summary>
    public static IReadOnlyList<string?> OutputsOf(StoreDirectory storeDir, string drvPath, ReadOnlySpan<byte> drvBytes)
    {
        var fileName = System.IO.Path.GetFileName(drvPath);
        var drv = DerivationAterm.Parse(storeDir, drvBytes, fileName[33..^4]);
        return [.. drv.Outputs.Values.Select(o => o.Path?.FullPath)];
    }
}
