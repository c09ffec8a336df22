using System.Text;
using BuildFarm.Store.Local;
using BuildFarm.Store.Paths;

namespace BuildFarm.Store.Tests.Local;

public sealed class ReferenceScannerTests
{
    private static readonly StorePath A = StorePath.Parse(StoreDirectory.Nix, "/nix/store/" + new string('a', 32) + "-a");
    private static readonly StorePath B = StorePath.Parse(StoreDirectory.Nix, "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-b");
    private static readonly StorePath C = StorePath.Parse(StoreDirectory.Nix, "/nix/store/" + new string('c', 32) + "-c");

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(31)]
    [InlineData(32)]
    [InlineData(33)]
    [InlineData(4096)]
    public void Write_DigestsSplitAcrossChunks_Found(int chunk)
    {
        var data = Encoding.ASCII.GetBytes($"xx{A.Digest}yy aaaa{B.Digest}{new string('z', 100)}{B.Digest[..31]}");
        using var scanner = new ReferenceScanner([A, B, C]);

        for (var i = 0; i < data.Length; i += chunk)
            scanner.Write(data.AsSpan(i, Math.Min(chunk, data.Length - i)));

        Assert.Equal([B, A], scanner.Found);
    }

    [Fact]
    public void Write_DigestInsideLongerNix32Run_Found()
    {
        using var scanner = new ReferenceScanner([C]);

        scanner.Write(Encoding.ASCII.GetBytes("ccc" + C.Digest + "ccc"));

        Assert.Equal([C], scanner.Found);
    }
}
