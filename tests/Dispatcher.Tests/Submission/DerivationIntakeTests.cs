using System.Text;
using BuildFarm.Dispatcher.Submission;
using BuildFarm.Store.Paths;
using BuildFarm.Testing;

namespace BuildFarm.Dispatcher.Tests.Submission;

public sealed class DerivationIntakeTests
{
    [Fact]
    public async Task ResolveAsync_DrvWithLatinOneBytes_RefusedNamingThePath()
    {
        using var dir = new TempDirectory("bf-intake");
        var nonce = Guid.NewGuid().ToString("N")[..10];
        var expr = Encoding.ASCII.GetBytes($"derivation {{ name = \"intake-latin1-{nonce}\"; system = \"x86_64-linux\"; builder = \"/bin/sh\"; v = \"caf")
            .Concat(new byte[] { 0xE9 }).Concat(Encoding.ASCII.GetBytes("\"; }")).ToArray();
        var file = dir.Combine("latin1.nix");
        await File.WriteAllBytesAsync(file, expr);
        var drvPath = await NixOracle.RunTextAsync("nix-instantiate", file);

        var (result, error) = await new DerivationIntake(StoreLayout.Create("/nix/store", "/")).ResolveAsync(drvPath, null, CancellationToken.None);

        Assert.Null(result);
        Assert.StartsWith($"{drvPath} holds bytes that are not UTF-8", error, StringComparison.Ordinal);
    }
}
