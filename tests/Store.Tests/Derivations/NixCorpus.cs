using System.Security.Cryptography;
using System.Text;
using BuildFarm.Store.Derivations;
using BuildFarm.Store.Hashing;
using BuildFarm.Store.Paths;
using BuildFarm.Testing;

namespace BuildFarm.Store.Tests.Derivations;

/// <summary>
/// Derivations written by the real <c>nix-instantiate</c> into /nix/store from one expression (three Nix calls in
/// all): multiple outputs, fixed outputs (flat/recursive, sha1/sha256/sha512, hex/nix32/SRI), two levels of
/// dependencies, odd characters, requiredSystemFeatures, and Nix twins of the specs in <see cref="DerivationSpecTests"/>.
/// </summary>
public sealed class NixCorpus : IAsyncLifetime, IDisposable
{
    public static readonly string[] Attrs =
        ["multi", "fixedFlat", "fixedRec", "fixedSha1", "fixedSha512", "fixedRecSha1", "odd", "level1", "level2", "specTool", "specLib", "specApp"];

    private readonly TempDirectory _dir = new("bf-drv-corpus");

    public static string Sha256Hex { get; } = Convert.ToHexStringLower(SHA256.HashData("hello"u8));

    public static string Sha256Nix32 { get; } = Nix32.Encode(SHA256.HashData("recursive"u8));

    public static string ToolSri { get; } = "sha256-" + Convert.ToBase64String(SHA256.HashData("tool"u8));

    public static string Sha1Hex { get; } = Convert.ToHexStringLower(OutputHashAlgorithm.Sha1.HashData("hello"u8));

    public static string Sha512Sri { get; } = "sha512-" + Convert.ToBase64String(SHA512.HashData("hello"u8));

    /// <summary>The odd env value, as a C# string (the expression spells it with Nix escapes).</summary>
    public const string OddValue = "a\"b\\c\r\nd\te ünï 😀 ${x} \u0001";

    /// <summary>attr → the .drv path Nix wrote.</summary>
    public Dictionary<string, StorePath> DrvPaths { get; } = [];

    /// <summary>The JSON of <c>nix show-derivation</c> for every corpus drv.</summary>
    public string ShowDerivationJson { get; private set; } = "";

    /// <summary>Every line of <c>nix-store -q --outputs</c> over the corpus.</summary>
    public HashSet<string> QueriedOutputs { get; } = [];

    public async Task InitializeAsync()
    {
        var nix = Path.Combine(_dir.Path, "corpus.nix");
        await File.WriteAllTextAsync(Path.Combine(_dir.Path, "src.txt"), "a source file\n");
        await File.WriteAllTextAsync(nix, Expression());
        var args = new List<string> { nix };
        foreach (var a in Attrs)
            args.AddRange(["-A", a]);
        var lines = (await NixOracle.RunTextAsync("nix-instantiate", [.. args])).Split('\n');
        Assert.Equal(Attrs.Length, lines.Length);
        for (var i = 0; i < Attrs.Length; i++)
            DrvPaths[Attrs[i]] = StorePath.Parse(StoreDirectory.Nix, lines[i].Trim());
        var paths = DrvPaths.Values.Select(p => p.FullPath).Distinct().ToArray();
        ShowDerivationJson = await NixOracle.RunTextAsync("nix", ["show-derivation", .. paths]);
        foreach (var line in (await NixOracle.RunTextAsync("nix-store", ["-q", "--outputs", .. paths])).Split('\n'))
            QueriedOutputs.Add(line.Trim());
    }

    public Task DisposeAsync() => Task.CompletedTask;

    public void Dispose() => _dir.Dispose();

    public static byte[] ReadDrv(StorePath path) => File.ReadAllBytes(path.FullPath);

    private static string Expression()
    {
        var sb = new StringBuilder();
        sb.Append(
            $$"""
            let
              mk = attrs: derivation ({ system = "x86_64-linux"; builder = "/bin/sh"; } // attrs);
            in rec {
              multi = mk { name = "multi"; outputs = [ "out" "dev" "lib" ]; args = [ "-c" "echo hi > $out" ]; };
              fixedFlat = mk { name = "fixed-flat"; outputHashAlgo = "sha256"; outputHash = "{{Sha256Hex}}"; };
              fixedRec = mk { name = "fixed-rec"; outputHashMode = "recursive"; outputHashAlgo = "sha256"; outputHash = "{{Sha256Nix32}}"; };
              fixedSha1 = mk { name = "fixed-sha1"; outputHashAlgo = "sha1"; outputHash = "{{Sha1Hex}}"; };
              fixedSha512 = mk { name = "fixed-sha512"; outputHash = "{{Sha512Sri}}"; };
              fixedRecSha1 = mk { name = "fixed-rec-sha1"; outputHashMode = "recursive"; outputHashAlgo = "sha1"; outputHash = "{{Sha1Hex}}"; };
              odd = mk {
                name = "odd";
                args = [ "-c" "printf '%s' \"q\\\"b\\\\n\" \n\ttab ünï 😀" "" ];
                weird = "a\"b\\c\r\nd\te ünï 😀 \${x} \u0001";
                "key with space" = "v";
                "k😀" = "astral";
                "k\uFFFD" = "bmp";
                requiredSystemFeatures = [ "kvm" "big-parallel" ];
              };
              level1 = mk { name = "level1"; inherit multi fixedFlat; dev = multi.dev; src = ./src.txt; };
              level2 = mk { name = "level2"; inherit level1 fixedRec fixedSha1 fixedSha512; args = [ "-c" "${level1}/bin/x ${multi.lib}" ]; };
              specTool = mk { name = "spec-tool"; outputHashMode = "recursive"; outputHash = "{{ToolSri}}"; };
              specLib = mk { name = "spec-lib"; outputs = [ "out" "dev" ]; args = [ "-c" "make" ]; requiredSystemFeatures = [ "big-parallel" ]; };
              specApp = mk {
                name = "spec-app";
                args = [ "-c" "${specTool}/bin/tool ${specLib.dev}" ];
                lib = specLib;
                src = ./src.txt;
                MSG = "hello \"world\"\n";
              };
            }
            """);
        // Raw characters Nix has no escape for: U+0001 and U+FFFD go into the file as UTF-8.
        return sb.ToString().Replace("\\u0001", "\u0001", StringComparison.Ordinal).Replace("\\uFFFD", "\uFFFD", StringComparison.Ordinal);
    }
}

[CollectionDefinition(Name)]
public sealed class NixCorpusGroup : ICollectionFixture<NixCorpus>
{
    public const string Name = "nix derivation corpus";
}
