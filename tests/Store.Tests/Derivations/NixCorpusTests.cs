using System.Text.Json.Nodes;
using BuildFarm.Store.Derivations;
using BuildFarm.Store.Paths;

namespace BuildFarm.Store.Tests.Derivations;

/// <summary>Our ATerm, paths, hashes and JSON against what nix-instantiate and nix show-derivation produce.</summary>
[Collection(NixCorpusGroup.Name)]
public sealed class NixCorpusTests(NixCorpus corpus)
{
    private static readonly StoreDirectory Store = StoreDirectory.Nix;

    private static DerivationHasher NewHasher() => new(Store, DerivationFiles.StoreLoader(StoreLayout.Create("/nix/store", "/")));

    private IEnumerable<(string Attr, StorePath Path, byte[] Bytes, Derivation Drv)> All() =>
        corpus.DrvPaths.Select(p =>
        {
            var bytes = NixCorpus.ReadDrv(p.Value);
            return (p.Key, p.Value, bytes, DerivationAterm.Parse(Store, bytes, DerivationFiles.NameFromFileName(p.Value.BaseName)));
        });

    [Fact]
    public void Parse_NixWrittenDrv_PrintsByteIdentical()
    {
        foreach (var (attr, _, bytes, drv) in All())
            Assert.True(bytes.AsSpan().SequenceEqual(DerivationAterm.PrintBytes(drv)), $"{attr}: printed ATerm differs from Nix's file");
    }

    [Fact]
    public void DrvPath_NixWrittenDrv_EqualsNixInstantiate()
    {
        foreach (var (attr, path, _, drv) in All())
            Assert.True(path == DerivationPaths.DrvPath(Store, drv), $"{attr}: {DerivationPaths.DrvPath(Store, drv)} != {path}");
    }

    [Fact]
    public async Task FillOutputPaths_BlankedOutputs_GivesNixsDerivation()
    {
        var hasher = NewHasher();
        foreach (var (attr, _, bytes, drv) in All())
        {
            var blank = drv with
            {
                Outputs = drv.Outputs.SetItems(drv.Outputs.Select(o => KeyValuePair.Create(o.Key,
                    o.Value.FixedHash is { } h ? DerivationOutput.FixedOutput(null, h) : DerivationOutput.Deferred))),
                Env = drv.Env.SetItems(drv.Outputs.Keys.Select(k => KeyValuePair.Create(k, ""))),
            };
            var filled = await DerivationPaths.FillOutputPathsAsync(blank, hasher, CancellationToken.None);
            Assert.Equal(drv, filled);
            Assert.True(bytes.AsSpan().SequenceEqual(DerivationAterm.PrintBytes(filled)), $"{attr}: filled derivation differs from Nix's");
        }
    }

    [Fact]
    public async Task OutputPaths_Computed_EqualNixStoreQueryOutputs()
    {
        var hasher = NewHasher();
        var ours = new HashSet<string>();
        foreach (var (_, _, _, drv) in All())
        {
            var filled = await DerivationPaths.FillOutputPathsAsync(drv, hasher, CancellationToken.None);
            ours.UnionWith(filled.OutputPaths.Select(o => o.Value.FullPath));
        }

        Assert.Equal(corpus.QueriedOutputs.Order(StringComparer.Ordinal), ours.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Json_AllCorpusDrvs_EqualsNixShowDerivation()
    {
        var ours = DerivationJson.Serialize(All().Select(d => KeyValuePair.Create(d.Path, d.Drv)));
        var expected = JsonNode.Parse(corpus.ShowDerivationJson);
        var actual = JsonNode.Parse(ours);
        Assert.True(JsonNode.DeepEquals(expected, actual), $"ours:\n{ours}\nnix:\n{corpus.ShowDerivationJson}");
    }

    [Fact]
    public async Task HashModulo_FixedOutput_IsFixedOutHashOfPath()
    {
        var drv = All().Single(d => d.Attr == "fixedRec").Drv;
        var hash = await NewHasher().HashModuloAsync(drv, maskOutputs: false, CancellationToken.None);
        var expected = BuildFarm.Store.Hashing.NixHash.Sha256($"fixed:out:r:sha256:{drv.Outputs["out"].Hash}:{drv.Outputs["out"].Path}");
        Assert.Equal(expected, hash.OutputHashes["out"]);
        Assert.False(hash.IsDeferred);
    }

    [Fact]
    public void Parse_OddCharacters_DecodesEscapesAndUnicode()
    {
        var odd = All().Single(d => d.Attr == "odd").Drv;
        Assert.Equal(NixCorpus.OddValue, odd.Env["weird"]);
        Assert.Equal("printf '%s' \"q\\\"b\\\\n\" \n\ttab ünï 😀", odd.Args[1]);
        Assert.Equal("", odd.Args[2]);
        Assert.Equal(["kvm", "big-parallel"], odd.RequiredSystemFeatures);
        // Nix sorts by UTF-8 bytes: U+FFFD (EF BF BD) before U+1F600 (F0 9F 98 80), unlike UTF-16 ordinal order.
        var keys = odd.Env.Keys.ToList();
        Assert.True(keys.IndexOf("k\uFFFD") < keys.IndexOf("k😀"));
    }

    [Fact]
    public void Derivation_Level2_HasTwoLevelsOfInputs()
    {
        var level2 = All().Single(d => d.Attr == "level2").Drv;
        var level1Path = corpus.DrvPaths["level1"];
        Assert.Equal(["out"], level2.InputDrvs[level1Path]);
        Assert.Equal(["lib"], level2.InputDrvs[corpus.DrvPaths["multi"]]);
        Assert.Empty(level2.RequiredSystemFeatures);
        Assert.True(All().Single(d => d.Attr == "fixedSha512").Drv.IsFixedOutput);
    }
}
