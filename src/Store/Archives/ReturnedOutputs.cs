using BuildFarm.Store.Derivations;
using BuildFarm.Store.Local;
using BuildFarm.Store.Paths;

namespace BuildFarm.Store.Archives;

/// <summary>
/// An archive that returns the outputs of one derivation (a worker's result at the origin): every path must be an
/// output path of <paramref name="Derivation"/>, and a fixed output must be at the path its declared hash gives and
/// hold exactly the declared content (<see cref="FixedOutputVerifier"/>). A trusted signature proves only who signed;
/// this is what still holds when a worker's key is stolen, since a content-addressed path is trusted by every later build.
/// </summary>
public sealed record ReturnedOutputs(StorePath DrvPath, Derivation Derivation)
{
    /// <summary>Null when <paramref name="path"/> is an output path of the derivation (checked before its NAR is read).</summary>
    public string? CheckPath(StorePath path)
    {
        if (OutputOf(path) is not { } output)
            return $"path '{path}' is in the returned archive but is not an output of '{DrvPath}' (its outputs: {string.Join(", ", Derivation.OutputPaths.Select(o => $"{o.Key} {o.Value}"))})";
        if (output.Value.FixedHash is not { } wanted)
            return null;
        var expected = DerivationPaths.MakeFixedOutputPath(path.StoreDir, wanted, DerivationPaths.OutputPathName(Derivation.Name, output.Key));
        return expected == path ? null
            : $"fixed output '{output.Key}' of '{DrvPath}' is declared at '{path}', but its declared hash {wanted.MethodAlgo}:{wanted.ToSri()} makes it '{expected}'";
    }

    /// <summary>
    /// Null when the restored copy at <paramref name="physicalPath"/> may become <paramref name="info"/>'s path: always
    /// for an input-addressed output; for a fixed one, when it holds the declared content (<paramref name="info"/>'s NAR
    /// hash, verified against the restored NAR by the caller, is reused for <c>r:sha256</c>).
    /// </summary>
    public async Task<string?> CheckContentAsync(ValidPathInfo info, string physicalPath, CancellationToken cancellationToken)
    {
        if (OutputOf(info.Path) is not { Value.FixedHash: { } wanted })
            return null;
        return await FixedOutputVerifier.CheckAsync(
            DrvPath.FullPath, wanted, info.Path.FullPath, physicalPath, info.References.Count, info.NarHash, cancellationToken);
    }

    /// <summary>The content address Nix records for <paramref name="path"/> when it is a fixed output (after <see cref="CheckContentAsync"/>), else null.</summary>
    public string? ContentAddress(StorePath path) => OutputOf(path)?.Value.FixedHash?.ContentAddress;

    private KeyValuePair<string, DerivationOutput>? OutputOf(StorePath path)
    {
        foreach (var output in Derivation.Outputs)
        {
            if (output.Value.Path == path)
                return output;
        }

        return null;
    }
}
