using System.Text;
using System.Text.RegularExpressions;
using BuildFarm.Store.Derivations;

namespace BuildFarm.Worker.Derivations;

/// <summary>
/// Nix 2.8's <c>exportReferencesGraph</c>: the closure of each named input path, written in the build directory
/// in the format of <c>nix-store --register-validity</c> without derivers and hashes (plain derivations), or as
/// the JSON of <c>pathInfoToJSON</c> folded into <c>.attrs.json</c> (structured attributes).
/// </summary>
internal static partial class ReferenceGraph
{
    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_.-]*$")]
    private static partial Regex FileNamePattern();

    /// <summary>True when the derivation asks for reference graphs (plainly, or inside its structured attributes).</summary>
    public static bool IsUsed(IReadOnlyDictionary<string, string> env) =>
        env.ContainsKey("exportReferencesGraph")
        || (env.TryGetValue("__json", out var json) && json.Contains("\"exportReferencesGraph\"", StringComparison.Ordinal));

    /// <summary>The files (name → contents) for a plain derivation's <c>exportReferencesGraph</c> value.</summary>
    public static IReadOnlyList<(string Name, byte[] Contents)> Files(
        string value, string storeDir, IReadOnlySet<string> inputPaths, IReadOnlyDictionary<string, PathFacts> facts)
    {
        var tokens = DerivationAttributes.Tokenize(value);
        if (tokens.Count % 2 != 0)
            throw new DerivationAttributeException($"odd number of tokens in 'exportReferencesGraph': '{value}'");
        var files = new List<(string, byte[])>();
        for (var i = 0; i < tokens.Count; i += 2)
        {
            var fileName = tokens[i];
            if (!FileNamePattern().IsMatch(fileName))
                throw new DerivationAttributeException($"invalid file name '{fileName}' in 'exportReferencesGraph'");
            var path = tokens[i + 1];
            if (!path.StartsWith(storeDir + "/", StringComparison.Ordinal))
                throw new DerivationAttributeException($"'exportReferencesGraph' contains a non-store path '{path}'");
            var s = new StringBuilder();
            foreach (var p in Closure([StorePathOf(path, storeDir)], inputPaths, facts))
            {
                var info = facts[p];
                s.Append(p).Append('\n').Append('\n').Append(info.References.Count).Append('\n');
                foreach (var r in info.References.Order(StringComparer.Ordinal))
                    s.Append(r).Append('\n');
            }

            files.Add((fileName, NixBytes.Encode(s.ToString())));
        }

        return files;
    }

    /// <summary>
    /// Nix's <c>exportReferences</c>: the sorted closure of <paramref name="roots"/>, each of which must be in the
    /// derivation's input closure; then, for every <c>.drv</c> in that closure, the closure of each of its outputs
    /// (all of them, as Nix 2.8 adds them: "useful if you want to do things like passing all build-time dependencies
    /// of some path to a derivation that builds a NixOS DVD image").
    /// </summary>
    public static IReadOnlyList<string> Closure(IEnumerable<string> roots, IReadOnlySet<string> inputPaths, IReadOnlyDictionary<string, PathFacts> facts)
    {
        var rootList = roots.ToList();
        foreach (var root in rootList)
        {
            if (!inputPaths.Contains(root) || !facts.ContainsKey(root))
                throw new DerivationAttributeException($"cannot export references of path '{root}' because it is not in the input closure of the derivation");
        }

        var paths = new SortedSet<string>(FsClosure(rootList, facts), StringComparer.Ordinal);
        foreach (var p in paths.Where(p => p.EndsWith(".drv", StringComparison.Ordinal)).ToList())
        {
            var outputs = facts[p].DrvOutputs ?? throw new DerivationAttributeException($"the worker could not read the derivation '{p}'");
            foreach (var output in outputs)
            {
                if (output is null)
                    throw new DerivationAttributeException("exportReferences on CA derivations is not yet implemented");
                paths.UnionWith(FsClosure([output], facts));
            }
        }

        return [.. paths];
    }

    /// <summary>Nix's <c>computeFSClosure</c>: the sorted closure of <paramref name="roots"/> by references.</summary>
    public static IReadOnlyList<string> FsClosure(IEnumerable<string> roots, IReadOnlyDictionary<string, PathFacts> facts)
    {
        var seen = new SortedSet<string>(StringComparer.Ordinal);
        var todo = new Stack<string>(roots);
        while (todo.TryPop(out var p))
        {
            if (!seen.Add(p))
                continue;
            // Nix's queryPathInfo on a path that is not valid (here: not in the closure the worker was given).
            if (!facts.TryGetValue(p, out var info))
                throw new DerivationAttributeException($"path '{p}' is not valid");
            foreach (var r in info.References)
                todo.Push(r);
        }

        return [.. seen];
    }

    /// <summary><c>toStorePath</c>: a path inside a store path names that store path.</summary>
    public static string StorePathOf(string path, string storeDir)
    {
        var rest = path[(storeDir.Length + 1)..];
        var slash = rest.IndexOf('/', StringComparison.Ordinal);
        return slash < 0 ? path : path[..(storeDir.Length + 1 + slash)];
    }
}
