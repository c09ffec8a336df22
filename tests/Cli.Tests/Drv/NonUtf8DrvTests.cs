using System.Text;
using BuildFarm.Testing;

namespace BuildFarm.Cli.Tests.Drv;

/// <summary><c>buildfarm drv show|path</c> on a derivation whose env holds Latin-1 bytes (issue 19: strings are bytes).</summary>
public sealed class NonUtf8DrvTests : IDisposable
{
    private readonly TempDirectory _dir = new("bf-cli-latin1");

    public void Dispose() => _dir.Dispose();

    private async Task<string> InstantiateAsync()
    {
        var nonce = Guid.NewGuid().ToString("N")[..10];
        var expr = Encoding.ASCII.GetBytes($"derivation {{ name = \"cli-latin1-{nonce}\"; system = \"x86_64-linux\"; builder = \"/bin/sh\"; v = \"caf")
            .Concat(new byte[] { 0xE9, 0x20, 0x93, 0x94, 0x01 }).Concat(Encoding.ASCII.GetBytes("\"; }")).ToArray();
        var file = _dir.Combine("latin1.nix");
        await File.WriteAllBytesAsync(file, expr);
        return await NixOracle.RunTextAsync("nix-instantiate", file);
    }

    [Fact]
    public async Task Show_LatinOneEnv_SameBytesAsNixShowDerivation()
    {
        var drv = await InstantiateAsync();
        var run = await CliRun.RunAsync("--root", "/", "drv", "show", drv);
        Assert.Equal(0, run.ExitCode);
        var expected = await NixOracle.RunBytesAsync("nix", "--extra-experimental-features", "nix-command", "show-derivation", drv);
        Assert.Equal(expected, run.Stdout);
    }

    [Fact]
    public async Task Path_LatinOneEnv_GivesNixsPath()
    {
        var drv = await InstantiateAsync();
        var run = await CliRun.RunAsync("--root", "/", "drv", "path", drv);
        Assert.Equal(0, run.ExitCode);
        Assert.Equal(drv, run.StdoutText);
    }
}
