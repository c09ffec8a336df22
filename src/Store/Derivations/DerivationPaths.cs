using BuildFarm.Store.Hashing;
using BuildFarm.Store.Paths;

namespace BuildFarm.Store.Derivations;

/// <summary>Store paths of derivations and their outputs, as Nix computes them.</summary>
public static class DerivationPaths
{
    /// <summary>The name of output <paramref name="outputId"/>: <c>name</c> for <c>out</c>, else <c>name-id</c>.</summary>
    public static string OutputPathName(string drvName, string outputId) =>
        outputId == "out" ? drvName : drvName + "-" + outputId;

    /// <summary>An input-addressed output: fingerprint <c>output:&lt;id&gt;:sha256:&lt;hash modulo&gt;:storeDir:name</c>.</summary>
    public static StorePath MakeOutputPath(StoreDirectory storeDir, string outputId, NixHash hashModulo, string drvName) =>
        StorePathFactory.Make(storeDir, "output:" + outputId, hashModulo, OutputPathName(drvName, outputId));

    /// <summary>A fixed output's path from its declared hash (<paramref name="name"/> is the output path name).</summary>
    public static StorePath MakeFixedOutputPath(StoreDirectory storeDir, FixedOutputHash hash, string name) =>
        StorePathFactory.MakeFixedOutput(storeDir, name, hash.Recursive, hash.Algorithm.Name(), hash.Digest);

    /// <summary>
    /// The path the <c>.drv</c> file of <paramref name="drv"/> has in the store: a text path named
    /// <c>&lt;name&gt;.drv</c> whose references are the input sources and input derivations.
    /// </summary>
    public static StorePath DrvPath(StoreDirectory storeDir, Derivation drv) =>
        StorePathFactory.MakeText(storeDir, drv.Name + ".drv", DerivationAterm.PrintBytes(drv), References(drv));

    /// <summary>The references of the <c>.drv</c> file (its outputs are not references).</summary>
    public static IReadOnlyList<StorePath> References(Derivation drv) =>
        drv.InputSrcs.Concat(drv.InputDrvs.Keys).Distinct().Order(StorePath.Ordinal).ToList();

    /// <summary>
    /// Fills in the output paths of <paramref name="drv"/> and the env entries named after its outputs, the way
    /// <c>derivation</c> does at instantiation: fixed outputs from their hash, all others from the hash modulo of
    /// the derivation with its outputs and those env entries blanked. Existing output paths are recomputed.
    /// </summary>
    /// <exception cref="DerivationFormatException">when the outputs mix kinds or depend on deferred inputs.</exception>
    public static async Task<Derivation> FillOutputPathsAsync(Derivation drv, DerivationHasher hasher, CancellationToken cancellationToken)
    {
        var storeDir = hasher.StoreDir;
        if (drv.Outputs.Values.Any(o => o.Kind == DerivationOutputKind.Fixed))
        {
            if (drv.Outputs.Count != 1 || !drv.Outputs.TryGetValue("out", out var fixedOut))
                throw new DerivationFormatException($"derivation '{drv.Name}': a fixed-output derivation must have exactly one output, named 'out'");
            var path = MakeFixedOutputPath(storeDir, fixedOut.FixedHash!, drv.Name);
            return drv with
            {
                Outputs = drv.Outputs.SetItem("out", DerivationOutput.FixedOutput(path, fixedOut.FixedHash!)),
                Env = drv.Env.SetItem("out", path.FullPath),
            };
        }

        var bad = drv.Outputs.FirstOrDefault(o => o.Value.Kind is not (DerivationOutputKind.Deferred or DerivationOutputKind.InputAddressed));
        if (bad.Key is not null)
            throw new DerivationFormatException($"derivation '{drv.Name}': output '{bad.Key}' is {bad.Value.Kind}; only input-addressed and fixed outputs get paths before building");

        var masked = drv with
        {
            Outputs = drv.Outputs.SetItems(drv.Outputs.Keys.Select(k => KeyValuePair.Create(k, DerivationOutput.Deferred))),
            Env = drv.Env.SetItems(drv.Outputs.Keys.Select(k => KeyValuePair.Create(k, ""))),
        };
        var hash = await hasher.HashModuloAsync(masked, maskOutputs: true, cancellationToken);
        if (hash.IsDeferred)
            throw new DerivationFormatException($"derivation '{drv.Name}' depends on content-addressed or impure derivations; its output paths are only known after building");

        var outputs = masked.Outputs;
        var env = masked.Env;
        foreach (var id in drv.Outputs.Keys)
        {
            var path = MakeOutputPath(storeDir, id, hash.OutputHashes[id], drv.Name);
            outputs = outputs.SetItem(id, DerivationOutput.InputAddressed(path));
            env = env.SetItem(id, path.FullPath);
        }

        return masked with { Outputs = outputs, Env = env };
    }
}
