using BuildFarm.Store.Local;
using BuildFarm.Store.Paths;
using BuildFarm.Testing;

namespace BuildFarm.Store.Tests.Local;

/// <summary><see cref="OutputScan"/> through <see cref="BuildFarm.Store.Nar.NarHasher"/>'s path, including the read-ahead thread.</summary>
public sealed class OutputScanTests
{
    private static readonly StorePath Self = StorePath.Parse(StoreDirectory.Nix, "/nix/store/" + new string('1', 32) + "-out");
    private static readonly StorePath Early = StorePath.Parse(StoreDirectory.Nix, "/nix/store/" + new string('2', 32) + "-early");
    private static readonly StorePath Straddling = StorePath.Parse(StoreDirectory.Nix, "/nix/store/" + new string('3', 32) + "-straddling");
    private static readonly StorePath Late = StorePath.Parse(StoreDirectory.Nix, "/nix/store/" + new string('4', 32) + "-late");
    private static readonly StorePath Absent = StorePath.Parse(StoreDirectory.Nix, "/nix/store/" + new string('5', 32) + "-absent");

    [Fact]
    public async Task ScanAsync_TreeLargerThanTheReadAheadThreshold_HashMatchesNixAndReferencesFoundAcrossChunks()
    {
        using var dir = new TempDirectory("scan");
        var path = dir.Combine("out");
        Directory.CreateDirectory(path);
        await File.WriteAllTextAsync(Path.Combine(path, "a-small"), Early.FullPath + "\n");

        // 9 MiB: past the 4 MiB after which a helper thread hashes (and scans); one reference straddles a 128 KiB
        // chunk boundary of the NAR, one sits near the end, long after the helper took over.
        var blob = new byte[9 << 20];
        new Random(3).NextBytes(blob);
        // b-large's contents start at NAR offset 472 (magic 24, directory head 56, entry a-small 240, entry head 152).
        System.Text.Encoding.ASCII.GetBytes(Straddling.FullPath).CopyTo(blob, (5 << 20) - 472 - 20);
        System.Text.Encoding.ASCII.GetBytes(Late.FullPath + "/bin").CopyTo(blob, blob.Length - 100);
        await File.WriteAllBytesAsync(Path.Combine(path, "b-large"), blob);
        File.CreateSymbolicLink(Path.Combine(path, "c-self"), Self.FullPath);

        var (hash, size, references) = await OutputScan.ScanAsync(path, [Self, Early, Straddling, Late, Absent], CancellationToken.None);

        Assert.Equal("sha256:" + await NixOracle.HashPathAsync(path), hash.ToString());
        var nix = await ProcessRunner.RunAsync("bash", ["-c", "nix-store --dump \"$1\" | wc -c", "bash", path]);
        Assert.Equal(nix.Stdout.Trim(), size.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(new[] { Self, Early, Straddling, Late }.Order(StorePath.Ordinal), references);
    }
}
