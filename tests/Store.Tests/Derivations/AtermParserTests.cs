using System.Text;
using BuildFarm.Store.Derivations;
using BuildFarm.Store.Paths;

namespace BuildFarm.Store.Tests.Derivations;

public sealed class AtermParserTests
{
    private const string Out = "/nix/store/44918kgam2084d5wvwvxlvm27w29nzgq-a";
    private const string Valid =
        "Derive([(\"out\",\"" + Out + "\",\"\",\"\")],[(\"/nix/store/66acn01yxvx9qzq9rh9safn41jiyqn6p-f.drv\",[\"out\"])]," +
        "[\"/nix/store/q38pm3g6f0adsgq9bjz1q89cbbim6dff-a.nix\"],\"x86_64-linux\",\"/bin/sh\",[\"-c\",\"echo \\\"q\\\\b\\n\\t\\r x ü\"]," +
        "[(\"builder\",\"/bin/sh\"),(\"name\",\"a\"),(\"out\",\"" + Out + "\"),(\"system\",\"x86_64-linux\")])";

    private static Derivation Parse(string text) => DerivationAterm.Parse(StoreDirectory.Nix, Encoding.UTF8.GetBytes(text), "a");

    [Fact]
    public void Parse_Valid_RoundTripsAndUnescapes()
    {
        var drv = Parse(Valid);
        Assert.Equal("echo \"q\\b\n\t\r x ü", drv.Args[1]);
        Assert.Equal(Valid, DerivationAterm.Print(drv));
    }

    [Theory]
    [InlineData("", 0, "expected a derivation starting with 'Derive([', but found the end of the input")]
    [InlineData("Derive[", 0, "expected a derivation starting with 'Derive(['")]
    [InlineData("Derive([(\"out\"", 14, "expected ',' after the output name, but found the end of the input")]
    [InlineData("Derive([(\"out\",\"/nix/store/abc-a\",\"\",\"\")],[],[],\"s\",\"b\",[],[])", 15, "bad store path: store path entry 'abc-a' is not of the form")]
    [InlineData("Derive([(\"out\",\"" + Out + "\",\"\",\"\")],[],[],\"s\",\"b\",[],[]", 90, "expected ')' closing Derive(, but found the end of the input")]
    [InlineData("Derive([(\"out\",\"" + Out + "\",\"\",\"\")],[],[],\"s\",\"b\",[],[]) ", 91, "expected the end of the input")]
    [InlineData("Derive([(\"out\",\"" + Out + "\",\"\",\"\")],[],[],\"s\",\"b\",[\"x],[])", 93, "unterminated string (an argument)")]
    [InlineData("Derive([(\"out\",\"" + Out + "\",\"\",\"\")],[],[],\"s\",\"b\",[\"a\" \"b\"],[])", 89, "expected ',' or ']' after an argument, but found ' \"b\"],[])'")]
    [InlineData("Derive([(\"out\",\"" + Out + "\",\"\",\"\")],[],[],\"s\",\"b\",[],[(\"k\",\"1\"),(\"k\",\"2\")])", 100, "duplicate environment variable 'k'")]
    [InlineData("Derive([(\"out\",\"" + Out + "\",\"sha3\",\"00\")],[],[],\"s\",\"b\",[],[])", 63, "unknown hash algorithm 'sha3'")]
    [InlineData("Derive([(\"out\",\"" + Out + "\",\"sha256\",\"00\")],[],[],\"s\",\"b\",[],[])", 72, "hash '00' is not a sha256 digest")]
    [InlineData("Derive([(\"out\",\"" + Out + "\",\"\",\"\")],[(\"" + Out + "\",[\"out\"])],[],\"s\",\"b\",[],[])", 73, "does not end in .drv")]
    [InlineData("Derive([],[],[],\"s\",\"b\",[],[])", 0, "at least one output")]
    public void Parse_Malformed_SaysWhereAndWhat(string text, long offset, string expected)
    {
        var e = Assert.Throws<DerivationFormatException>(() => Parse(text));
        Assert.Contains(expected, e.Reason, StringComparison.Ordinal);
        Assert.Equal(offset, e.Offset);
        Assert.StartsWith($"at byte {offset}: ", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_FixedOutputWithWrongPath_IsRejected()
    {
        var text = "Derive([(\"out\",\"" + Out + "\",\"sha256\",\"" + new string('0', 64) + "\")],[],[],\"s\",\"b\",[],[])";
        var e = Assert.Throws<DerivationFormatException>(() => Parse(text));
        Assert.Contains("but its hash and the name 'a' give", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_InvalidUtf8_KeepsTheBytes()
    {
        var bytes = Encoding.UTF8.GetBytes(Valid.Replace("x ü", "x \u0001", StringComparison.Ordinal));
        bytes[Array.IndexOf(bytes, (byte)1)] = 0xFF;
        var drv = DerivationAterm.Parse(StoreDirectory.Nix, bytes, "a");
        Assert.Equal(bytes, DerivationAterm.PrintBytes(drv));
    }

    [Fact]
    public void Parse_EveryTruncationAndMutation_ThrowsOnlyFormatExceptions()
    {
        var bytes = Encoding.UTF8.GetBytes(Valid);
        for (var n = 0; n < bytes.Length; n++)
            Assert.Throws<DerivationFormatException>(() => DerivationAterm.Parse(StoreDirectory.Nix, bytes.AsSpan(0, n), "a"));

        var random = new Random(20261128);
        byte[] alphabet = "\"\\,()[]ab/\n\0\xFF"u8.ToArray();
        for (var i = 0; i < 3000; i++)
        {
            var mutated = (byte[])bytes.Clone();
            for (var k = random.Next(1, 4); k > 0; k--)
                mutated[random.Next(mutated.Length)] = alphabet[random.Next(alphabet.Length)];
            var ok = DerivationAterm.TryParse(StoreDirectory.Nix, mutated, "a", out var drv, out var error);
            Assert.True(ok ? drv is not null : error is not null);
        }
    }

    [Fact]
    public void Print_SystemOutputNamesAndPaths_AreNotEscapedLikeNix()
    {
        // Nix 2.8 writes these fields with printUnquotedString (verified with nix-instantiate: system "x\"y\\z\n"
        // produced the bytes "x"y\z<LF>" in the .drv, which Nix itself then cannot read back).
        var drv = Parse(Valid) with { System = "x\"y\\z\n" };
        Assert.Contains(",\"x\"y\\z\n\",\"/bin/sh\",", DerivationAterm.Print(drv), StringComparison.Ordinal);
    }
}
