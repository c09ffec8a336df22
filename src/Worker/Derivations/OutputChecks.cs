using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace BuildFarm.Worker.Derivations;

/// <summary>
/// Nix 2.8's <c>checkOutputs</c>: <c>allowedReferences</c>, <c>allowedRequisites</c>, <c>disallowedReferences</c>,
/// <c>disallowedRequisites</c> (plain derivations, self-references ignored in closures), or <c>outputChecks.&lt;id&gt;</c>
/// with those and <c>maxSize</c> / <c>maxClosureSize</c> (structured attributes; 2.8 reads no <c>ignoreSelfRefs</c>
/// there, so self-references count). Messages are Nix's, word for word.
/// </summary>
internal static class OutputChecks
{
    private static readonly string[] Lists = ["allowedReferences", "allowedRequisites", "disallowedReferences", "disallowedRequisites"];

    private sealed record Checks(
        bool IgnoreSelfRefs, ulong? MaxSize, ulong? MaxClosureSize,
        IReadOnlyList<string>? AllowedReferences, IReadOnlyList<string>? AllowedRequisites,
        IReadOnlyList<string>? DisallowedReferences, IReadOnlyList<string>? DisallowedRequisites);

    /// <summary>True when the derivation declares any output check.</summary>
    public static bool AreDeclared(IReadOnlyDictionary<string, string> env) =>
        Lists.Any(env.ContainsKey) || (env.TryGetValue("__json", out var json) && json.Contains("\"outputChecks\"", StringComparison.Ordinal));

    /// <summary>
    /// Null when every output passes, else Nix's error. <paramref name="outputs"/>: id → facts of the built output
    /// (references include itself and sibling outputs); <paramref name="store"/>: facts of every other path.
    /// </summary>
    public static string? Check(
        string drvPath, string storeDir, IReadOnlyDictionary<string, string> env,
        IReadOnlyDictionary<string, PathFacts> outputs, IReadOnlyDictionary<string, PathFacts> store)
    {
        var attrs = DerivationAttributes.Parse(drvPath, env, out var jsonError);
        if (jsonError is not null)
            return jsonError;
        var byPath = outputs.Values.ToDictionary(o => o.Path, StringComparer.Ordinal);
        try
        {
            foreach (var (id, info) in outputs.OrderBy(o => o.Key, StringComparer.Ordinal))
            {
                Checks? checks;
                if (attrs.Structured is { } structured)
                {
                    checks = structured["outputChecks"] is JsonObject all && all[id] is JsonObject one ? FromJson(one, drvPath) : null;
                }
                else
                {
                    checks = new Checks(true, null, null, attrs.GetStrings("allowedReferences"), attrs.GetStrings("allowedRequisites"),
                        attrs.GetStrings("disallowedReferences"), attrs.GetStrings("disallowedRequisites"));
                }

                if (checks is not null)
                    Apply(checks, info, storeDir, outputs, byPath, store);
            }
        }
        catch (DerivationAttributeException e)
        {
            return e.Message;
        }

        return null;
    }

    private static Checks FromJson(JsonObject o, string drvPath)
    {
        IReadOnlyList<string>? Get(string name)
        {
            if (o[name] is not { } node)
                return null;
            if (node is not JsonArray a || a.Any(e => e?.GetValueKind() != JsonValueKind.String))
                throw new DerivationAttributeException($"attribute '{name}' of derivation '{drvPath}' must be a list of strings");
            return [.. a.Select(e => e!.GetValue<string>())];
        }

        ulong? Size(string name) => o[name] is { } n ? ulong.Parse(n.ToJsonString(), CultureInfo.InvariantCulture) : null;
        return new Checks(false, Size("maxSize"), Size("maxClosureSize"), Get("allowedReferences"), Get("allowedRequisites"),
            Get("disallowedReferences"), Get("disallowedRequisites"));
    }

    private static void Apply(
        Checks checks, PathFacts info, string storeDir, IReadOnlyDictionary<string, PathFacts> outputs,
        Dictionary<string, PathFacts> byPath, IReadOnlyDictionary<string, PathFacts> store)
    {
        if (checks.MaxSize is { } maxSize && (ulong)info.NarSize > maxSize)
            throw new DerivationAttributeException($"path '{info.Path}' is too large at {info.NarSize} bytes; limit is {maxSize} bytes");
        if (checks.MaxClosureSize is { } maxClosure)
        {
            var size = Closure(info.Path, byPath, store).Size;
            if ((ulong)size > maxClosure)
                throw new DerivationAttributeException($"closure of path '{info.Path}' is too large at {size} bytes; limit is {maxClosure} bytes");
        }

        void CheckRefs(IReadOnlyList<string>? value, bool allowed, bool recursive)
        {
            if (value is null)
                return;
            var spec = new HashSet<string>(StringComparer.Ordinal);
            foreach (var i in value)
            {
                if (IsStorePath(i, storeDir))
                    spec.Add(i);
                else if (outputs.TryGetValue(i, out var output))
                    spec.Add(output.Path);
                else
                    throw new DerivationAttributeException($"derivation contains an illegal reference specifier '{i}'");
            }

            var used = recursive ? Closure(info.Path, byPath, store).Paths : new SortedSet<string>(info.References, StringComparer.Ordinal);
            if (recursive && checks.IgnoreSelfRefs)
                used.Remove(info.Path);
            var bad = used.Where(p => allowed != spec.Contains(p)).ToList();
            if (bad.Count > 0)
                throw new DerivationAttributeException($"output '{info.Path}' is not allowed to refer to the following paths:{string.Concat(bad.Select(p => "\n  " + p))}");
        }

        CheckRefs(checks.AllowedReferences, true, false);
        CheckRefs(checks.AllowedRequisites, true, true);
        CheckRefs(checks.DisallowedReferences, false, false);
        CheckRefs(checks.DisallowedRequisites, false, true);
    }

    private static (SortedSet<string> Paths, long Size) Closure(string path, Dictionary<string, PathFacts> outputs, IReadOnlyDictionary<string, PathFacts> store)
    {
        var done = new SortedSet<string>(StringComparer.Ordinal);
        var left = new Queue<string>([path]);
        long size = 0;
        while (left.TryDequeue(out var p))
        {
            if (!done.Add(p))
                continue;
            var info = outputs.GetValueOrDefault(p) ?? store.GetValueOrDefault(p)
                ?? throw new DerivationAttributeException($"path '{p}' is not valid");
            size += info.NarSize;
            foreach (var r in info.References)
                left.Enqueue(r);
        }

        return (done, size);
    }

    /// <summary>Nix's <c>isStorePath</c>: directly inside the store directory (no sub-path).</summary>
    private static bool IsStorePath(string s, string storeDir) =>
        s.StartsWith(storeDir + "/", StringComparison.Ordinal) && s.Length > storeDir.Length + 34 && !s[(storeDir.Length + 1)..].Contains('/', StringComparison.Ordinal);
}
