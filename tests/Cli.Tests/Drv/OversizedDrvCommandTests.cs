using BuildFarm.Testing;

namespace BuildFarm.Cli.Tests.Drv;

/// <summary>A 200 MB <c>.drv</c> (sparse: costs no disk) crashed <c>drv show</c>; every drv command now refuses it in one line.</summary>
public sealed class OversizedDrvCommandTests : IDisposable
{
    private readonly TempDirectory _dir = new("bf-cli-big-drv");

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData("show")]
    [InlineData("path")]
    [InlineData("outputs")]
    public async Task Drv_200MBFile_OneLineRefusalNamingTheFileAndTheLimit(string verb)
    {
        var file = _dir.Combine("big.drv");
        using (var stream = new FileStream(file, FileMode.CreateNew, FileAccess.Write))
        {
            stream.Write("Derive("u8);
            stream.SetLength(200_000_000);
        }

        var run = await CliRun.RunAsync("--root", "/", "drv", verb, file);

        Assert.Equal(1, run.ExitCode);
        Assert.Empty(run.Stdout);
        Assert.Equal($"buildfarm drv {verb}: {file}: the derivation is 200000000 bytes long, more than the 33554432 bytes (32 MiB) BuildFarm reads\n", run.Stderr);
    }
}
