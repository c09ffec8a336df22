using System.Text;
using BuildFarm.Store.Derivations;
using BuildFarm.Store.Paths;
using BuildFarm.Testing;

namespace BuildFarm.Store.Tests.Derivations;

/// <summary>
/// A crafted <c>.drv</c> with a 200 MB string took minutes and gigabytes to parse and print. Every reader now refuses
/// one over <see cref="DerivationAterm.MaxBytes"/> with the same message, a file by its size before reading it.
/// </summary>
public sealed class OversizedDerivationTests : IDisposable
{
    private const string Expected = "bytes long, more than the 33554432 bytes (32 MiB) BuildFarm reads";
    private readonly TempDirectory _dir = new("bf-big-drv");

    public void Dispose() => _dir.Dispose();

    /// <summary>
    /// A 200 MB <c>.drv</c> whose one env value is the whole file: sparse (a header, a hole, a tail), so it costs no
    /// disk and the test shows the reader never reads it.
    /// </summary>
    internal static string WriteHugeDrv(string path, long size = 200_000_000)
    {
        var head = Encoding.ASCII.GetBytes("Derive([(\"out\",\"/nix/store/" + new string('0', 32) + "-big\",\"\",\"\")],[],[],\"x86_64-linux\",\"/bin/sh\",[],[(\"big\",\"");
        var tail = Encoding.ASCII.GetBytes("\"),(\"name\",\"big\")])");
        using var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write);
        file.Write(head);
        file.SetLength(size - tail.Length);
        file.Seek(0, SeekOrigin.End);
        file.Write(tail);
        return path;
    }

    [Fact]
    public async Task ReadAsync_200MBDrvFile_RefusedBySizeNamingTheFileAndTheLimit()
    {
        var file = WriteHugeDrv(_dir.Combine("big.drv"));

        var error = await Assert.ThrowsAsync<DerivationFormatException>(() => DerivationFiles.ReadAsync(StoreDirectory.Nix, file, CancellationToken.None));

        Assert.Equal($"{file}: the derivation is 200000000 {Expected}", error.Message);
    }

    [Fact]
    public void Parse_OneByteOverTheLimit_RefusedAndAtTheLimitParsedAsUsual()
    {
        var head = "Derive([(\"out\",\"/nix/store/" + new string('0', 32) + "-big\",\"\",\"\")],[],[],\"x86_64-linux\",\"/bin/sh\",[],[(\"big\",\"";
        const string Tail = "\"),(\"name\",\"big\")])";
        var atLimit = Encoding.ASCII.GetBytes(head + new string('x', DerivationAterm.MaxBytes - head.Length - Tail.Length) + Tail);
        var over = Encoding.ASCII.GetBytes(head + new string('x', DerivationAterm.MaxBytes + 1 - head.Length - Tail.Length) + Tail);

        var error = Assert.Throws<DerivationFormatException>(() => DerivationAterm.Parse(StoreDirectory.Nix, over, "big"));

        Assert.Equal($"the derivation is {DerivationAterm.MaxBytes + 1} {Expected}", error.Message);
        Assert.Equal(DerivationAterm.MaxBytes - head.Length - Tail.Length, DerivationAterm.Parse(StoreDirectory.Nix, atLimit, "big").Env["big"].Length);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void TryToBytes_TextFarOverTheLimit_RefusedWithoutConvertingIt(bool base64)
    {
        var text = (base64 ? DrvText.Base64Prefix : "") + new string('A', (DerivationAterm.MaxBytes / 3 * 4) + 100);

        Assert.False(DrvText.TryToBytes(text, out var bytes, out var error));

        Assert.Empty(bytes);
        Assert.Contains(Expected, error, StringComparison.Ordinal);
    }
}
