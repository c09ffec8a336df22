using System.Collections.Concurrent;
using System.Collections.Immutable;
using BuildFarm.Store.Hashing;
using BuildFarm.Store.Paths;

namespace BuildFarm.Store.Derivations;

/// <summary>
/// Nix's <c>hashDerivationModulo</c>: hashes a derivation with each input derivation replaced by its own hash,
/// so fixed-output inputs contribute only their declared content. Input derivations come from
/// <paramref name="loadDerivation"/> and their hashes are memoised per <c>.drv</c> path for the hasher's lifetime.
/// </summary>
public sealed class DerivationHasher(StoreDirectory storeDir, Func<StorePath, CancellationToken, Task<Derivation>> loadDerivation)
{
    private readonly ConcurrentDictionary<StorePath, DerivationHashModulo> _memo = new();

    public StoreDirectory StoreDir { get; } = storeDir;

    /// <summary>The hash modulo of the derivation stored at <paramref name="drvPath"/> (outputs not masked).</summary>
    public async Task<DerivationHashModulo> HashModuloAsync(StorePath drvPath, CancellationToken cancellationToken)
    {
        if (_memo.TryGetValue(drvPath, out var known))
            return known;
        var drv = await loadDerivation(drvPath, cancellationToken);
        var hash = await HashModuloAsync(drv, maskOutputs: false, cancellationToken);
        _memo[drvPath] = hash;
        return hash;
    }

    /// <summary>
    /// The hash modulo of <paramref name="drv"/>. <paramref name="maskOutputs"/> blanks its output paths and the
    /// env entries named after outputs (how a derivation's own output paths are computed).
    /// </summary>
    /// <exception cref="DerivationFormatException">when outputs mix kinds or an input lacks a used output.</exception>
    public async Task<DerivationHashModulo> HashModuloAsync(Derivation drv, bool maskOutputs, CancellationToken cancellationToken)
    {
        var type = Classify(drv);
        if (type == DerivationOutputKind.Fixed)
        {
            var fixedHashes = drv.Outputs.ToImmutableSortedDictionary(
                o => o.Key,
                o =>
                {
                    var fixedHash = o.Value.FixedHash!;
                    var path = DerivationPaths.MakeFixedOutputPath(StoreDir, fixedHash, DerivationPaths.OutputPathName(drv.Name, o.Key));
                    return NixHash.Sha256($"fixed:out:{fixedHash.MethodAlgo}:{fixedHash.Hex}:{path.FullPath}");
                },
                CodePointComparer.Instance);
            return new DerivationHashModulo(fixedHashes, IsDeferred: false);
        }

        if (type == DerivationOutputKind.Impure)
        {
            var impure = NixHash.Sha256("impure");
            return new DerivationHashModulo(drv.Outputs.ToImmutableSortedDictionary(o => o.Key, _ => impure, CodePointComparer.Instance), IsDeferred: true);
        }

        var deferred = type == DerivationOutputKind.Floating;
        // Keyed by the hex of each input's hash: inputs are printed in that order, and two inputs with the same
        // hash (e.g. identical fixed outputs) merge, exactly as Nix's std::map does.
        var inputs = new SortedDictionary<string, SortedSet<string>>(StringComparer.Ordinal);
        foreach (var (inputPath, outputNames) in drv.InputDrvs)
        {
            var inputHash = await HashModuloAsync(inputPath, cancellationToken);
            deferred |= inputHash.IsDeferred;
            foreach (var outputName in outputNames)
            {
                if (!inputHash.OutputHashes.TryGetValue(outputName, out var h))
                    throw new DerivationFormatException($"derivation '{drv.Name}' uses output '{outputName}' of '{inputPath}', which has no such output");
                var key = h.ToHex();
                if (!inputs.TryGetValue(key, out var set))
                    inputs[key] = set = new SortedSet<string>(CodePointComparer.Instance);
                set.Add(outputName);
            }
        }

        var aterm = DerivationAterm.Print(drv, maskOutputs, inputs.Select(i => KeyValuePair.Create(i.Key, (IEnumerable<string>)i.Value)));
        var hash = NixHash.Sha256(NixBytes.Encode(aterm));
        return new DerivationHashModulo(drv.Outputs.ToImmutableSortedDictionary(o => o.Key, _ => hash, CodePointComparer.Instance), deferred);
    }

    /// <summary>Nix's <c>Derivation::type()</c>: all outputs must be of one kind; Deferred counts as input-addressed.</summary>
    private static DerivationOutputKind Classify(Derivation drv)
    {
        var kinds = drv.Outputs.Values.Select(o => o.Kind == DerivationOutputKind.Deferred ? DerivationOutputKind.InputAddressed : o.Kind).Distinct().ToList();
        var deferredAndIa = drv.Outputs.Values.Any(o => o.Kind == DerivationOutputKind.Deferred) && drv.Outputs.Values.Any(o => o.Kind == DerivationOutputKind.InputAddressed);
        if (kinds.Count == 0)
            throw new DerivationFormatException($"derivation '{drv.Name}' has no outputs");
        if (kinds.Count > 1 || deferredAndIa)
            throw new DerivationFormatException($"derivation '{drv.Name}' mixes output kinds ({string.Join(", ", drv.Outputs.Select(o => $"{o.Key}: {o.Value.Kind}"))})");
        if (kinds[0] == DerivationOutputKind.Fixed && (drv.Outputs.Count != 1 || !drv.Outputs.ContainsKey("out")))
            throw new DerivationFormatException($"derivation '{drv.Name}': a fixed-output derivation must have exactly one output, named 'out'");
        return kinds[0];
    }
}
