using System.Collections.Immutable;
using BuildFarm.Store.Derivations;
using BuildFarm.Store.Paths;

namespace BuildFarm.Integration.Tests.EndToEnd;

/// <summary>A real, Nix-exact <c>.drv</c> (the store's spec compiler) whose builder is <c>/bin/sh -c SCRIPT</c>, no inputs.</summary>
internal sealed record ShellDerivation(string DrvPath, string DrvText, string OutPath)
{
    public static async Task<ShellDerivation> CreateAsync(string name, string system, string script)
    {
        var spec = new DerivationSpec
        {
            Name = name,
            System = system,
            Builder = "/bin/sh",
            Args = ["-c", script],
            Env = ImmutableSortedDictionary.Create<string, string>(CodePointComparer.Instance).Add("nonce", Guid.NewGuid().ToString("N")),
        };
        var compiled = await new DerivationSpecCompiler(new StoreDirectory("/nix/store"), (p, _) => throw new InvalidOperationException($"no input drv {p}"))
            .CompileAsync(spec, CancellationToken.None);
        return new ShellDerivation(compiled.DrvPath.FullPath, compiled.Aterm, compiled.Derivation.Outputs["out"].Path!.FullPath);
    }
}
