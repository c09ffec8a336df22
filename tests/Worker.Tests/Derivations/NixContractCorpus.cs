using System.Text;
using BuildFarm.Testing;

namespace BuildFarm.Worker.Tests.Derivations;

/// <summary>
/// contract.nix instantiated once per test class by the real nix-instantiate, with a fresh nonce (the store is
/// shared) and a static busybox added to /nix/store as every builder's shell.
/// </summary>
public sealed class NixContractCorpus : IAsyncLifetime, IDisposable
{
    public static readonly string[] Attrs =
    [
        "env", "passAsFile", "dep", "graph", "structured", "impure", "impureIgnored", "multi", "selfRef", "allowedRefs",
        "allowedRefsOk", "disallowedReqs", "disallowedRefs", "badSpec", "maxSize", "maxClosure", "builtin", "cycle", "maxClosureBad",
        "fodFlat", "fodRecursive", "fodBad", "fodDir", "fodRef", "graphDrv", "caDep", "structuredGraphs", "argv0",
    ];

    private readonly TempDirectory _dir = new("bf19-corpus");
    private string _fodTreeHash = "";

    public string Busybox { get; private set; } = "";

    public IReadOnlyDictionary<string, string> DrvPaths { get; private set; } = new Dictionary<string, string>();

    /// <summary>The same derivations with another nonce, for the sandboxed builds (the first set ends valid in the store).</summary>
    public IReadOnlyDictionary<string, string> SandboxedDrvPaths { get; private set; } = new Dictionary<string, string>();

    public async Task InitializeAsync()
    {
        var bin = Directory.CreateDirectory(_dir.Combine("busybox", "bin")).FullName;
        File.Copy("/bin/busybox", Path.Combine(bin, "busybox"));
        File.CreateSymbolicLink(Path.Combine(bin, "sh"), "busybox");
        Busybox = await NixOracle.RunTextAsync("nix-store", "--add", _dir.Combine("busybox"));

        var file = _dir.Combine("contract.nix");
        await ContractCorpusSource.WriteAsync(file, Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData("hello1"u8)));
        _fodTreeHash = await ContractFixedOutput.TreeHashAsync(_dir.Path);
        DrvPaths = await InstantiateAsync(file);
        SandboxedDrvPaths = await InstantiateAsync(file);
    }

    private async Task<Dictionary<string, string>> InstantiateAsync(string file)
    {
        var nonce = Guid.NewGuid().ToString("N")[..10];
        List<string> args = [file, "--argstr", "nonce", nonce, "--argstr", "busybox", Busybox, "--argstr", "fodTreeHash", _fodTreeHash];
        foreach (var a in Attrs)
            args.AddRange(["-A", a]);
        var lines = (await NixOracle.RunTextAsync("nix-instantiate", [.. args])).Split('\n');
        return Attrs.Zip(lines).ToDictionary(p => p.First, p => p.Second.Trim());
    }

    public Task DisposeAsync() => Task.CompletedTask;

    public void Dispose() => _dir.Dispose();
}
