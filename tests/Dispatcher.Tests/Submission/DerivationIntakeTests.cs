using System.Text;
using BuildFarm.Dispatcher.Submission;
using BuildFarm.Store.Derivations;
using BuildFarm.Store.Paths;
using BuildFarm.Testing;

namespace BuildFarm.Dispatcher.Tests.Submission;

public sealed class DerivationIntakeTests
{
    [Fact]
    public async Task ResolveAsync_DrvWithLatinOneBytes_CarriedByteForByteAsBase64()
    {
        var (drvPath, bytes) = await LatinOneDrvAsync();

        var (result, error) = await new DerivationIntake(StoreLayout.Create("/nix/store", "/")).ResolveAsync(drvPath, null, CancellationToken.None);

        Assert.True(result is not null, error);
        Assert.Equal(DrvText.Base64Prefix + Convert.ToBase64String(bytes), result.DrvText);
        Assert.Equal("caf\uDCE9", result.Drv.Env["v"]);
        Assert.True(DrvText.TryToBytes(result.DrvText, out var back, out _));
        Assert.Equal(bytes, back);
    }

    [Fact]
    public async Task ResolveAsync_Base64TextFromAClient_SameDerivationAsTheFile()
    {
        var (drvPath, bytes) = await LatinOneDrvAsync();
        var intake = new DerivationIntake(StoreLayout.Create("/nix/store", "/"));

        var (result, error) = await intake.ResolveAsync(drvPath, DrvText.FromBytes(bytes), CancellationToken.None);

        Assert.True(result is not null, error);
        Assert.Equal(drvPath, result.DrvPath);
        Assert.Equal("caf\uDCE9", result.Drv.Env["v"]);
    }

    [Fact]
    public async Task ResolveAsync_MalformedBase64Text_RefusedWithTheReason()
    {
        var (result, error) = await new DerivationIntake(StoreLayout.Create("/nix/store", "/")).ResolveAsync(null, "base64:not*base64", CancellationToken.None);

        Assert.Null(result);
        Assert.Contains("drv text starts with 'base64:' but the rest is not base64", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ResolveAsync_200MBDrvInTheStore_RefusedBySizeNamingTheFile()
    {
        using var dir = new TempDirectory("intake-big");
        var layout = StoreLayout.Create("/nix/store", dir.Path);
        var drvPath = "/nix/store/" + new string('1', 32) + "-big.drv";
        Directory.CreateDirectory(layout.PhysicalStoreDir);
        WriteSparse(layout.Root + drvPath, 200_000_000);

        var (result, error) = await new DerivationIntake(layout).ResolveAsync(drvPath, null, CancellationToken.None);

        Assert.Null(result);
        Assert.Equal($"{layout.Root + drvPath}: the derivation is 200000000 bytes long, more than the 33554432 bytes (32 MiB) BuildFarm reads", error);
    }

    [Fact]
    public async Task ResolveAsync_DrvTextOverTheLimit_RefusedWithTheLimit()
    {
        var text = "Derive([(\"out\",\"/nix/store/" + new string('0', 32) + "-big\",\"\",\"\")],[],[],\"x86_64-linux\",\"/bin/sh\",[],[(\"big\",\""
            + new string('x', DerivationAterm.MaxBytes) + "\")])";

        var (result, error) = await new DerivationIntake(StoreLayout.Create("/nix/store", "/")).ResolveAsync(null, text, CancellationToken.None);

        Assert.Null(result);
        Assert.Equal($"drvText: the derivation is {Encoding.UTF8.GetByteCount(text)} bytes long, more than the 33554432 bytes (32 MiB) BuildFarm reads", error);
    }

    [Fact]
    public async Task ResolveAsync_ContentAddressedDerivation_RefusedNamingTheOutput()
    {
        using var dir = new TempDirectory("bf-intake-ca");
        var file = dir.Combine("ca.nix");
        await File.WriteAllTextAsync(file, $$"""
            derivation { name = "intake-ca-{{Guid.NewGuid().ToString("N")[..10]}}"; system = "x86_64-linux"; builder = "/bin/sh";
              args = [ "-c" "echo x > $out" ]; __contentAddressed = true; outputHashMode = "recursive"; outputHashAlgo = "sha256"; }
            """);
        var drvPath = await NixOracle.RunTextAsync("nix-instantiate", "--extra-experimental-features", "ca-derivations", file);

        var (result, error) = await new DerivationIntake(StoreLayout.Create("/nix/store", "/")).ResolveAsync(drvPath, null, CancellationToken.None);

        Assert.Null(result);
        Assert.StartsWith($"{drvPath}: output 'out' has no path before the build (a content-addressed or deferred derivation", error, StringComparison.Ordinal);
    }

    private static void WriteSparse(string path, long size)
    {
        using var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write);
        file.Write("Derive("u8);
        file.SetLength(size);
    }

    private static async Task<(string DrvPath, byte[] Bytes)> LatinOneDrvAsync()
    {
        using var dir = new TempDirectory("bf-intake");
        var nonce = Guid.NewGuid().ToString("N")[..10];
        var expr = Encoding.ASCII.GetBytes($"derivation {{ name = \"intake-latin1-{nonce}\"; system = \"x86_64-linux\"; builder = \"/bin/sh\"; v = \"caf")
            .Concat(new byte[] { 0xE9 }).Concat(Encoding.ASCII.GetBytes("\"; }")).ToArray();
        var file = dir.Combine("latin1.nix");
        await File.WriteAllBytesAsync(file, expr);
        var drvPath = await NixOracle.RunTextAsync("nix-instantiate", file);
        return (drvPath, await File.ReadAllBytesAsync(drvPath));
    }
}
