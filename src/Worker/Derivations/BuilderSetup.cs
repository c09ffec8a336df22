using System.Globalization;
using BuildFarm.Store.Derivations;
using BuildFarm.Store.Hashing;

namespace BuildFarm.Worker.Derivations;

/// <summary>What the builder gets: its environment and the files Nix puts in the build directory first.</summary>
internal sealed record BuilderSetup(Dictionary<string, string> Env, IReadOnlyList<string> Args, IReadOnlyList<(string Name, byte[] Contents)> Files);

/// <summary>What <see cref="BuilderSetupFactory"/> needs beyond the derivation.</summary>
/// <param name="DrvPath">The logical <c>.drv</c> path (for messages).</param>
/// <param name="StoreDir">The logical store directory (<c>NIX_STORE</c>).</param>
/// <param name="Outputs">Output id → the path the builder must write it at.</param>
/// <param name="BuildDir">The build directory as the builder sees it.</param>
/// <param name="Cores"><c>NIX_BUILD_CORES</c>.</param>
/// <param name="HostEnvironment">The worker's own environment (impureEnvVars of fixed-output derivations).</param>
/// <param name="InputPaths">The derivation's input closure (what exportReferencesGraph may name).</param>
/// <param name="Facts">The worker store's facts of the input closure, for exportReferencesGraph.</param>
internal sealed record BuilderContext(
    string DrvPath,
    string StoreDir,
    IReadOnlyDictionary<string, string> Outputs,
    string BuildDir,
    int Cores,
    Func<string, string?> HostEnvironment,
    IReadOnlySet<string> InputPaths,
    IReadOnlyDictionary<string, PathFacts> Facts);

/// <summary>Nix 2.8's <c>initEnv</c>, <c>initTmpDir</c>, <c>writeStructuredAttrs</c> and exportReferencesGraph.</summary>
internal static class BuilderSetupFactory
{
    /// <summary>
    /// The builder's environment and build-directory files exactly as Nix 2.8 makes them, or a
    /// <see cref="DerivationAttributeException"/> with Nix's message when Nix would refuse the derivation.
    /// </summary>
    public static BuilderSetup Create(
        IReadOnlyDictionary<string, string> drvEnv, IReadOnlyList<string> drvArgs, IReadOnlyList<string> outputIds,
        IReadOnlyList<DerivationOutputKind> outputKinds, BuilderContext context)
    {
        var attrs = DerivationAttributes.Parse(context.DrvPath, drvEnv, out var jsonError);
        if (jsonError is not null)
            throw new DerivationAttributeException(jsonError);
        var rewrites = outputIds.ToDictionary(HashPlaceholder, id => context.Outputs[id], StringComparer.Ordinal);
        var env = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["PATH"] = "/path-not-set",
            ["HOME"] = "/homeless-shelter",
            ["NIX_STORE"] = context.StoreDir,
            ["NIX_BUILD_CORES"] = context.Cores.ToString(CultureInfo.InvariantCulture),
        };
        var files = new List<(string, byte[])>();
        if (attrs.Structured is null)
        {
            var passAsFile = DerivationAttributes.Tokenize(drvEnv.GetValueOrDefault("passAsFile", "")).ToHashSet(StringComparer.Ordinal);
            foreach (var (name, value) in drvEnv)
            {
                if (!passAsFile.Contains(name))
                {
                    env[name] = value;
                    continue;
                }

                var file = ".attr-" + NixHash.Sha256(NixBytes.Encode(name)).ToNix32();
                files.Add((file, NixBytes.Encode(Rewrite(value, rewrites))));
                env[name + "Path"] = context.BuildDir + "/" + file;
            }

            // Where outputs are written on this machine (the logical paths, unless the store is elsewhere unsandboxed).
            foreach (var (id, path) in context.Outputs)
                env[id] = path;
        }

        foreach (var name in new[] { "NIX_BUILD_TOP", "TMPDIR", "TEMPDIR", "TMP", "TEMP", "PWD" })
            env[name] = context.BuildDir;
        var sandboxed = outputKinds.All(k => k is not (DerivationOutputKind.Fixed or DerivationOutputKind.Impure));
        if (outputKinds.Contains(DerivationOutputKind.Fixed))
            env["NIX_OUTPUT_CHECKED"] = "1";
        if (!sandboxed)
        {
            foreach (var name in attrs.GetStrings("impureEnvVars") ?? [])
                env[name] = context.HostEnvironment(name) ?? "";
        }

        env["NIX_LOG_FD"] = "2";
        env["TERM"] = "xterm-256color";

        if (attrs.Structured is { } structured)
        {
            var json = StructuredAttrs.Prepare(structured, context.Outputs, context.InputPaths, context.Facts);
            files.Add((".attrs.sh", NixBytes.Encode(Rewrite(NixBytes.Decode(StructuredAttrs.Shell(json)), rewrites))));
            env["NIX_ATTRS_SH_FILE"] = context.BuildDir + "/.attrs.sh";
            files.Add((".attrs.json", NixBytes.Encode(Rewrite(NixBytes.Decode(StructuredAttrs.Dump(json)), rewrites))));
            env["NIX_ATTRS_JSON_FILE"] = context.BuildDir + "/.attrs.json";
        }
        else if (drvEnv.TryGetValue("exportReferencesGraph", out var graph))
        {
            files.AddRange(ReferenceGraph.Files(graph, context.StoreDir, context.InputPaths, context.Facts));
        }

        foreach (var key in env.Keys.ToList())
            env[key] = Rewrite(env[key], rewrites);
        return new BuilderSetup(env, [.. drvArgs.Select(a => Rewrite(a, rewrites))], files);
    }

    /// <summary>Nix's <c>hashPlaceholder</c>: <c>/</c> + nix32(sha256("nix-output:" + id)).</summary>
    public static string HashPlaceholder(string outputId) => "/" + NixHash.Sha256(NixBytes.Encode("nix-output:" + outputId)).ToNix32();

    private static string Rewrite(string s, IReadOnlyDictionary<string, string> rewrites)
    {
        foreach (var (from, to) in rewrites)
        {
            if (s.Contains(from, StringComparison.Ordinal))
                s = s.Replace(from, to, StringComparison.Ordinal);
        }

        return s;
    }
}
