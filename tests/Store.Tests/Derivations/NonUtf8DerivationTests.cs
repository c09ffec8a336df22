using System.Text;
using BuildFarm.Store.Derivations;
using BuildFarm.Store.Paths;
using BuildFarm.Testing;

namespace BuildFarm.Store.Tests.Derivations;

/// <summary>
/// Nix strings are bytes: a derivation whose env, args and builder hold Latin-1 and control bytes (written by the
/// real nix-instantiate) parses, prints, hashes and renders as JSON exactly as Nix does.
/// </summary>
public sealed class NonUtf8DerivationTests : IAsyncLifetime, IDisposable
{
    private static readonly StoreDirectory Store = StoreDirectory.Nix;
    private readonly TempDirectory _dir = new("bf-nonutf8");
    private string _top = "";
    private string _dep = "";

    public async Task InitializeAsync()
    {
        var nonce = Guid.NewGuid().ToString("N")[..12];
        // Raw bytes in the .nix file: é in Latin-1 (E9), FF 80, € in UTF-8, DEL, ESC, backspace and a CP1252 quote (93).
        var expr = Encoding.ASCII.GetBytes($"let mk = a: derivation ({{ system = \"x86_64-linux\"; builder = \"/bin/sh\"; }} // a); in rec {{ ")
            .Concat(Encoding.ASCII.GetBytes($"dep = mk {{ name = \"nonutf8-dep-{nonce}\"; outputs = [ \"out\" \"lib\" ]; v = \"caf")).Concat(new byte[] { 0xE9, 0x20, 0xFF, 0x80, 0x20, 0xE2, 0x82, 0xAC, 0x7F, 0x1B, 0x08, 0x93 })
            .Concat(Encoding.ASCII.GetBytes("\"; args = [ \"-c\" \"echo ")).Concat(new byte[] { 0xE9, 0xE8 })
            .Concat(Encoding.ASCII.GetBytes($" > $out\" ]; }}; top = mk {{ name = \"nonutf8-top-{nonce}\"; inherit dep; w = \"")).Concat(new byte[] { 0xC3, 0x28, 0xA9 })
            .Concat(Encoding.ASCII.GetBytes("\"; }; }")).ToArray();
        var file = _dir.Combine("nonutf8.nix");
        await File.WriteAllBytesAsync(file, expr);
        var lines = (await NixOracle.RunTextAsync("nix-instantiate", file, "-A", "top", "-A", "dep")).Split('\n');
        (_top, _dep) = (lines[0].Trim(), lines[1].Trim());
    }

    public Task DisposeAsync() => Task.CompletedTask;

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Parse_LatinOneBytes_PrintsByteIdenticalAndSamePath()
    {
        foreach (var file in new[] { _dep, _top })
        {
            var bytes = await File.ReadAllBytesAsync(file);
            var drv = DerivationAterm.Parse(Store, bytes, DerivationFiles.NameFromFileName(Path.GetFileName(file)));
            Assert.True(bytes.AsSpan().SequenceEqual(DerivationAterm.PrintBytes(drv)), $"{file}: printed ATerm differs from Nix's");
            Assert.Equal(file, DerivationPaths.DrvPath(Store, drv).FullPath);
        }
    }

    [Fact]
    public async Task FillOutputPaths_LatinOneBytes_GivesNixsOutputPaths()
    {
        var hasher = new DerivationHasher(Store, DerivationFiles.StoreLoader(StoreLayout.Create("/nix/store", "/")));
        foreach (var file in new[] { _dep, _top })
        {
            var drv = await DerivationFiles.ReadAsync(Store, file, CancellationToken.None);
            var blank = drv with
            {
                Outputs = drv.Outputs.SetItems(drv.Outputs.Select(o => KeyValuePair.Create(o.Key, DerivationOutput.Deferred))),
                Env = drv.Env.SetItems(drv.Outputs.Keys.Select(k => KeyValuePair.Create(k, ""))),
            };
            var filled = await DerivationPaths.FillOutputPathsAsync(blank, hasher, CancellationToken.None);
            Assert.Equal(drv, filled);
        }
    }

    [Fact]
    public async Task Json_LatinOneBytes_EqualsNixShowDerivationBytes()
    {
        foreach (var file in new[] { _dep, _top })
        {
            var expected = await NixOracle.RunBytesAsync("nix", "--extra-experimental-features", "nix-command", "show-derivation", file);
            var drv = await DerivationFiles.ReadAsync(Store, file, CancellationToken.None);
            var ours = DerivationJson.SerializeBytes(StorePath.Parse(Store, file), drv).Append((byte)'\n').ToArray();
            Assert.True(expected.AsSpan().SequenceEqual(ours), $"ours:\n{Encoding.Latin1.GetString(ours)}\nnix:\n{Encoding.Latin1.GetString(expected)}");
        }
    }
}
