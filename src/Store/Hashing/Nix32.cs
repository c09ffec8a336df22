namespace BuildFarm.Store.Hashing;

/// <summary>Nix's base-32 encoding (alphabet without e, o, u, t; bytes consumed from the end).</summary>
public static class Nix32
{
    public const string Alphabet = "0123456789abcdfghijklmnpqrsvwxyz";

    public static int EncodedLength(int byteCount) => byteCount == 0 ? 0 : ((byteCount * 8) - 1) / 5 + 1;

    public static string Encode(ReadOnlySpan<byte> bytes)
    {
        var length = EncodedLength(bytes.Length);
        var chars = new char[length];
        var pos = 0;
        for (var k = length - 1; k >= 0; k--)
        {
            var b = k * 5;
            var i = b / 8;
            var j = b % 8;
            var c = (bytes[i] >> j) | (i + 1 < bytes.Length ? bytes[i + 1] << (8 - j) : 0);
            chars[pos++] = Alphabet[c & 31];
        }

        return new string(chars);
    }

    public static bool IsValidChar(char c) => c < 128 && Alphabet.Contains(c, StringComparison.Ordinal);

    /// <summary>Decodes <paramref name="text"/>; returns false on a bad character, a bad length or stray high bits.</summary>
    public static bool TryDecode(string text, int byteCount, out byte[] bytes)
    {
        bytes = new byte[byteCount];
        if (text.Length != EncodedLength(byteCount))
            return false;
        for (var n = 0; n < text.Length; n++)
        {
            var digit = Alphabet.IndexOf(text[text.Length - n - 1], StringComparison.Ordinal);
            if (digit < 0)
                return false;
            var b = n * 5;
            var i = b / 8;
            var j = b % 8;
            bytes[i] |= (byte)(digit << j);
            var carry = digit >> (8 - j);
            if (i + 1 < byteCount)
                bytes[i + 1] |= (byte)carry;
            else if (carry != 0)
                return false;
        }

        return true;
    }

    public static byte[] Decode(string text, int byteCount) =>
        TryDecode(text, byteCount, out var bytes)
            ? bytes
            : throw new FormatException($"'{text}' is not a nix32 encoding of {byteCount} bytes");
}
