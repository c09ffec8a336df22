using System.Collections.Immutable;
using BuildFarm.Contracts.Builds;
using BuildFarm.Store.Derivations;
using BuildFarm.Store.Paths;

namespace BuildFarm.Worker.Tests.Farm;

/// <summary>Real <c>.drv</c> texts (the store's spec compiler, Nix-exact) for <c>/bin/sh -c SCRIPT</c> builders.</summary>
internal static class TestDerivations
{
    public static async Task<BuildDerivation> ShellAsync(
        string storeDir, string system, string script, string[]? features = null, TimeSpan? timeout = null, TimeSpan? maxSilent = null,
        IDictionary<string, string>? env = null, string? name = null, string[]? requestFeatures = null)
    {
        var dir = new StoreDirectory(storeDir);
        var envMap = (env ?? new Dictionary<string, string>()).ToImmutableSortedDictionary(StringComparer.Ordinal)
            .Add("nonce", Guid.NewGuid().ToString("N"));
        var spec = new DerivationSpec
        {
            Name = name ?? "test-build",
            System = system,
            Builder = "/bin/sh",
            Args = ["-c", script],
            Env = envMap.WithComparers(CodePointComparer.Instance),
            RequiredSystemFeatures = features is null ? null : [.. features],
        };
        var compiled = await new DerivationSpecCompiler(dir, (p, _) => throw new InvalidOperationException($"no input drv {p}"))
            .CompileAsync(spec, CancellationToken.None);
        var feats = (requestFeatures ?? features ?? []).Distinct().Order(StringComparer.Ordinal).ToArray();
        return new BuildDerivation(
            Guid.NewGuid(), 1, compiled.DrvPath.FullPath, compiled.Aterm, storeDir, system, feats, [], ["out"], null,
            new BuildLimits(timeout ?? TimeSpan.FromMinutes(5), maxSilent ?? TimeSpan.Zero), 0, DateTimeOffset.UtcNow);
    }
}
