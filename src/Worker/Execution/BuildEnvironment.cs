using System.Globalization;

namespace BuildFarm.Worker.Execution;

/// <summary>
/// The builder's environment with Nix's semantics: exactly the derivation's env plus the build-dir variables,
/// <c>HOME=/homeless-shelter</c>, <c>PATH=/path-not-set</c>, <c>NIX_STORE</c>, <c>NIX_BUILD_CORES</c> and each
/// output id bound to its path. Nothing is inherited from the worker process.
/// </summary>
internal static class BuildEnvironment
{
    public static Dictionary<string, string> Create(BuildPlan plan, string buildDir, int cores)
    {
        var env = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["PATH"] = "/path-not-set",
            ["HOME"] = "/homeless-shelter",
            ["NIX_STORE"] = plan.StoreDir,
            ["NIX_BUILD_CORES"] = cores.ToString(CultureInfo.InvariantCulture),
        };
        foreach (var (k, v) in plan.Recipe.Env)
            env[k] = v;
        foreach (var name in new[] { "NIX_BUILD_TOP", "TMPDIR", "TEMPDIR", "TMP", "TEMP", "PWD" })
            env[name] = buildDir;
        foreach (var (id, path) in plan.OutputPhysicalPaths)
            env[id] = path;
        return env;
    }
}
