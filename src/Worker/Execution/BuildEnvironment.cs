using BuildFarm.Store.Derivations;
using BuildFarm.Worker.Derivations;

namespace BuildFarm.Worker.Execution;

/// <summary>
/// The builder's environment, arguments and build-directory files with Nix 2.8's semantics
/// (<see cref="BuilderSetupFactory"/>): nothing is inherited from the worker process except the
/// <c>impureEnvVars</c> of a fixed-output derivation.
/// </summary>
internal static class BuildEnvironment
{
    /// <summary>
    /// Writes passAsFile, exportReferencesGraph and structured-attribute files into <paramref name="buildDir"/> and
    /// returns the environment and arguments, naming the build directory as the builder sees it
    /// (<paramref name="visibleBuildDir"/>). <paramref name="outputs"/>: output id → where the builder writes it.
    /// </summary>
    /// <exception cref="DerivationAttributeException">when Nix would refuse the derivation (its message).</exception>
    public static BuilderSetup Create(BuildPlan plan, string buildDir, string visibleBuildDir, int cores, IReadOnlyDictionary<string, string> outputs)
    {
        var recipe = plan.Recipe;
        var kinds = recipe.Parsed is { } drv
            ? drv.Outputs.Values.Select(o => o.Kind).ToList()
            : [recipe.Env.ContainsKey("outputHash") ? DerivationOutputKind.Fixed : DerivationOutputKind.InputAddressed];
        var context = new BuilderContext(
            plan.DrvPath, plan.StoreDir, outputs, visibleBuildDir, cores, Environment.GetEnvironmentVariable,
            new HashSet<string>(plan.InputFacts.Keys, StringComparer.Ordinal), plan.InputFacts);
        var setup = BuilderSetupFactory.Create(recipe.Env, recipe.Args, [.. recipe.Outputs.Keys], kinds, context);
        foreach (var (name, contents) in setup.Files)
        {
            var path = Path.Combine(buildDir, name);
            File.WriteAllBytes(path, contents);
        }

        return setup;
    }
}
