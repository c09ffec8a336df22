using BuildFarm.Store.Hashing;
using BuildFarm.Testing;

namespace BuildFarm.Store.Tests.Hashing;

public sealed class Nix32Tests
{
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(20)]
    [InlineData(32)]
    public void Decode_OfEncode_RoundTrips(int length)
    {
        var bytes = Enumerable.Range(0, length).Select(i => (byte)(i * 37 + 11)).ToArray();
        var text = Nix32.Encode(bytes);
        Assert.Equal(Nix32.EncodedLength(length), text.Length);
        Assert.Equal(bytes, Nix32.Decode(text, length));
    }

    [Fact]
    public void TryDecode_CharacterOutsideAlphabet_Fails()
    {
        var text = new string('0', 51) + "e";
        Assert.False(Nix32.TryDecode(text, 32, out _));
    }

    [Fact]
    public async Task Encode_Sha256OfText_MatchesNixHash()
    {
        using var dir = new TempDirectory();
        var file = dir.Combine("f");
        await File.WriteAllTextAsync(file, "hello nix32\n");
        var expected = await NixOracle.RunTextAsync("nix-hash", "--type", "sha256", "--flat", "--base32", file);
        Assert.Equal(expected, NixHash.Sha256("hello nix32\n").ToNix32());
    }
}
