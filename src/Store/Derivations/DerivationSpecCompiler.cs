using System.Collections.Immutable;
using System.Text.RegularExpressions;
using BuildFarm.Store.Paths;

namespace BuildFarm.Store.Derivations;

/// <summary>
/// Turns <see cref="DerivationSpec"/>s into complete derivations exactly as <c>derivation { … }</c> would:
/// env gets <c>name</c>, <c>system</c>, <c>builder</c>, <c>outputs</c> (when given), <c>requiredSystemFeatures</c>
/// (when given) and <c>outputHash</c>/<c>outputHashAlgo</c>/<c>outputHashMode</c>, then output paths are filled in.
/// Placeholders <c>{{inputs.K}}</c> and <c>{{inputs.K.OUTPUT}}</c> in builder, args and env values become input
/// output paths (and add that output to the inputs). Existing <c>.drv</c> inputs come from
/// the loader given to the constructor; nested specs are compiled first and kept in <see cref="Compiled"/>.
/// </summary>
public sealed partial class DerivationSpecCompiler
{
    private static readonly string[] Reserved = ["name", "system", "builder", "args", "outputs", "requiredSystemFeatures", "outputHash", "outputHashAlgo", "outputHashMode"];
    private readonly Dictionary<StorePath, CompiledDerivation> _byPath = [];
    private readonly List<CompiledDerivation> _compiled = [];
    private readonly Func<StorePath, CancellationToken, Task<Derivation>> _load;
    private readonly DerivationHasher _hasher;

    public DerivationSpecCompiler(StoreDirectory storeDir, Func<StorePath, CancellationToken, Task<Derivation>> loadDerivation)
    {
        StoreDir = storeDir;
        _load = loadDerivation;
        _hasher = new DerivationHasher(storeDir, LoadAsync);
    }

    public StoreDirectory StoreDir { get; }

    /// <summary>Every derivation compiled so far, inputs before the derivations that use them.</summary>
    public IReadOnlyList<CompiledDerivation> Compiled => _compiled;

    /// <exception cref="DerivationFormatException">naming the spec field that is wrong.</exception>
    public Task<CompiledDerivation> CompileAsync(DerivationSpec spec, CancellationToken cancellationToken) =>
        CompileAsync(spec, "", cancellationToken);

    private Task<Derivation> LoadAsync(StorePath path, CancellationToken cancellationToken) =>
        _byPath.TryGetValue(path, out var known) ? Task.FromResult(known.Derivation) : _load(path, cancellationToken);

    private async Task<CompiledDerivation> CompileAsync(DerivationSpec spec, string field, CancellationToken cancellationToken)
    {
        var at = new FieldContext("spec", field);
        if (StorePath.ValidateName(spec.Name + ".drv") is { } nameError)
            throw at.Child("name").Error(nameError);
        if (spec.System.Length == 0)
            throw at.Child("system").Error("must not be empty (e.g. x86_64-linux)");
        if (spec.Builder.Length == 0)
            throw at.Child("builder").Error("must not be empty (e.g. /bin/sh)");
        var outputIds = ValidateOutputs(spec, at);
        var fixedHash = ValidateFixed(spec, at);

        var inputs = new Dictionary<string, (StorePath Path, Derivation Drv, SortedSet<string> Outputs)>(StringComparer.Ordinal);
        foreach (var (key, input) in spec.InputDrvs)
            inputs[key] = await ResolveInputAsync(input, at.Child("inputDrvs").Child(key), cancellationToken);

        var builder = Substitute(spec.Builder, at.Child("builder"), inputs);
        var args = spec.Args.Select((a, i) => Substitute(a, new FieldContext(at.Source, $"{at.Child("args").Field}[{i}]"), inputs)).ToImmutableArray();
        var env = Derivation.EmptyEnv.ToBuilder();
        foreach (var (k, v) in spec.Env)
        {
            if (Reserved.Contains(k, StringComparer.Ordinal) || outputIds.Contains(k, StringComparer.Ordinal))
                throw at.Child("env").Child(k).Error($"is set by the spec itself ({(Reserved.Contains(k, StringComparer.Ordinal) ? "from the field of that name" : "to the output's path")}); remove it from env");
            env[k] = Substitute(v, at.Child("env").Child(k), inputs);
        }

        env["name"] = spec.Name;
        env["system"] = spec.System;
        env["builder"] = builder;
        if (spec.Outputs is { } declared)
            env["outputs"] = string.Join(' ', declared);
        if (spec.RequiredSystemFeatures is { } features)
            env["requiredSystemFeatures"] = string.Join(' ', features);
        if (spec.FixedOutput is { } fo)
        {
            env["outputHash"] = fo.Hash;
            if (fo.Algo is not null)
                env["outputHashAlgo"] = fo.Algo;
            if (fo.Recursive)
                env["outputHashMode"] = "recursive";
        }

        var inputSrcs = Derivation.EmptyInputSrcs.ToBuilder();
        for (var i = 0; i < spec.InputSrcs.Length; i++)
        {
            if (!StorePath.TryParse(StoreDir, spec.InputSrcs[i], out var src, out var error))
                throw new FieldContext(at.Source, $"{at.Child("inputSrcs").Field}[{i}]").Error(error!);
            inputSrcs.Add(src!);
        }

        var inputDrvs = Derivation.EmptyInputDrvs.ToBuilder();
        foreach (var (path, _, used) in inputs.Values)
        {
            if (used.Count == 0)
                used.Add("out");
            var names = inputDrvs.TryGetValue(path, out var existing) ? existing.Union(used) : Derivation.EmptyNames.Union(used);
            inputDrvs[path] = names;
        }

        var outputs = Derivation.EmptyOutputs.ToBuilder();
        foreach (var id in outputIds)
            outputs[id] = fixedHash is null ? DerivationOutput.Deferred : DerivationOutput.FixedOutput(null, fixedHash);

        var blank = new Derivation
        {
            Name = spec.Name,
            Outputs = outputs.ToImmutable(),
            InputDrvs = inputDrvs.ToImmutable(),
            InputSrcs = inputSrcs.ToImmutable(),
            System = spec.System,
            Builder = builder,
            Args = args,
            Env = env.ToImmutable(),
        };
        var drv = await DerivationPaths.FillOutputPathsAsync(blank, _hasher, cancellationToken);
        var compiled = new CompiledDerivation(DerivationPaths.DrvPath(StoreDir, drv), drv, DerivationAterm.Print(drv));
        if (_byPath.TryAdd(compiled.DrvPath, compiled))
            _compiled.Add(compiled);
        return compiled;
    }

    private static List<string> ValidateOutputs(DerivationSpec spec, FieldContext at)
    {
        var ids = spec.Outputs is { } declared ? declared.ToList() : ["out"];
        var outputsAt = at.Child("outputs");
        if (ids.Count == 0)
            throw outputsAt.Error("must name at least one output");
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < ids.Count; i++)
        {
            var itemAt = new FieldContext(at.Source, $"{outputsAt.Field}[{i}]");
            if (ids[i] == "drv")
                throw itemAt.Error("'drv' is not a valid output name");
            if (ids[i].Length == 0 || StorePath.ValidateName(DerivationPaths.OutputPathName(spec.Name, ids[i])) is not null)
                throw itemAt.Error($"'{ids[i]}' is not a valid output name (letters, digits and +-._?= only)");
            if (!seen.Add(ids[i]))
                throw itemAt.Error($"output '{ids[i]}' is listed twice");
        }

        if (spec.FixedOutput is not null && (ids.Count != 1 || ids[0] != "out"))
            throw outputsAt.Error("a fixed-output derivation has exactly one output, 'out'");
        return ids;
    }

    private static FixedOutputHash? ValidateFixed(DerivationSpec spec, FieldContext at)
    {
        if (spec.FixedOutput is not { } fo)
            return null;
        var foAt = at.Child("fixedOutput");
        OutputHashAlgorithm? algo = null;
        if (fo.Algo is not null)
        {
            if (!OutputHashAlgorithms.TryParse(fo.Algo, out var parsed))
                throw foAt.Child("algo").Error($"unknown hash algorithm '{fo.Algo}' (expected md5, sha1, sha256 or sha512)");
            algo = parsed;
        }

        return FixedOutputHash.TryParse(fo.Hash, algo, fo.Recursive, out var hash, out var error)
            ? hash
            : throw foAt.Child("hash").Error(error!);
    }

    private async Task<(StorePath Path, Derivation Drv, SortedSet<string> Outputs)> ResolveInputAsync(DerivationSpecInput input, FieldContext at, CancellationToken cancellationToken)
    {
        StorePath path;
        Derivation drv;
        if (input.Spec is not null)
        {
            var compiled = await CompileAsync(input.Spec, at.Child("spec").Field, cancellationToken);
            (path, drv) = (compiled.DrvPath, compiled.Derivation);
        }
        else
        {
            if (!StorePath.TryParse(StoreDir, input.DrvPath ?? "", out var parsed, out var error))
                throw at.Child("drv").Error(error!);
            if (!parsed!.IsDerivation)
                throw at.Child("drv").Error($"'{parsed}' is not a .drv path");
            path = parsed;
            try
            {
                drv = await LoadAsync(path, cancellationToken);
            }
            catch (Exception e) when (e is IOException or DerivationFormatException or UnauthorizedAccessException)
            {
                throw at.Child("drv").Error($"cannot read {path}: {e.Message}");
            }
        }

        var used = new SortedSet<string>(CodePointComparer.Instance);
        for (var i = 0; i < input.Outputs.Length; i++)
        {
            if (!drv.Outputs.ContainsKey(input.Outputs[i]))
                throw new FieldContext(at.Source, $"{at.Child("outputs").Field}[{i}]").Error($"{path} has no output '{input.Outputs[i]}' (it has {string.Join(", ", drv.Outputs.Keys)})");
            used.Add(input.Outputs[i]);
        }

        return (path, drv, used);
    }

    private static string Substitute(string text, FieldContext at, Dictionary<string, (StorePath Path, Derivation Drv, SortedSet<string> Outputs)> inputs) =>
        Placeholder().Replace(text, m =>
        {
            var key = m.Groups["key"].Value;
            var output = m.Groups["output"].Success ? m.Groups["output"].Value : "out";
            if (!inputs.TryGetValue(key, out var input))
                throw at.Error($"placeholder {m.Value} names no entry of inputDrvs (have: {string.Join(", ", inputs.Keys)})");
            if (!input.Drv.Outputs.TryGetValue(output, out var o) || o.Path is null)
                throw at.Error($"placeholder {m.Value}: {input.Path} has no output '{output}' with a known path");
            input.Outputs.Add(output);
            return o.Path.FullPath;
        });

    [GeneratedRegex(@"\{\{inputs\.(?<key>[^.{}]+)(?:\.(?<output>[^.{}]+))?\}\}", RegexOptions.CultureInvariant)]
    private static partial Regex Placeholder();
}
