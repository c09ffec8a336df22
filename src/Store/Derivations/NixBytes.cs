using System.Buffers;
using System.Text;

namespace BuildFarm.Store.Derivations;

/// <summary>
/// Nix strings are bytes (any byte but NUL), not UTF-8. This codec carries them in .NET strings losslessly, the
/// way Python's <c>surrogateescape</c> does: valid UTF-8 decodes as usual and every byte that is not part of valid
/// UTF-8 becomes the lone surrogate U+DC80–U+DCFF (U+DC00 + the byte), which valid UTF-8 can never produce.
/// <see cref="Encode"/> turns such a string back into the exact bytes, so parsing, printing and hashing a
/// <c>.drv</c> with Latin-1 values gives Nix's bytes and Nix's hashes.
/// </summary>
public static class NixBytes
{
    private const char EscapeBase = '\uDC00';

    public static string Decode(ReadOnlySpan<byte> bytes)
    {
        if (Ascii.IsValid(bytes))
            return Encoding.ASCII.GetString(bytes);
        var s = new StringBuilder(bytes.Length);
        while (!bytes.IsEmpty)
        {
            if (Rune.DecodeFromUtf8(bytes, out var rune, out var consumed) == OperationStatus.Done)
            {
                s.Append(rune.ToString());
                bytes = bytes[consumed..];
                continue;
            }

            // One escaped byte at a time: the next byte may start a valid sequence again.
            s.Append((char)(EscapeBase + bytes[0]));
            bytes = bytes[1..];
        }

        return s.ToString();
    }

    public static byte[] Encode(string text)
    {
        if (Ascii.IsValid(text))
            return Encoding.ASCII.GetBytes(text);
        var buffer = new ArrayBufferWriter<byte>(text.Length + 16);
        Span<byte> one = stackalloc byte[4];
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (IsEscapedByte(c))
            {
                buffer.Write([(byte)(c - EscapeBase)]);
                continue;
            }

            Rune rune;
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                rune = new Rune(c, text[i + 1]);
                i++;
            }
            else
            {
                rune = Rune.TryCreate(c, out var r) ? r : Rune.ReplacementChar;
            }

            var n = rune.EncodeToUtf8(one);
            buffer.Write(one[..n]);
        }

        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>True when <paramref name="text"/> is valid UTF-8 text (no escaped bytes).</summary>
    public static bool IsUtf8(string text) => !text.Any(IsEscapedByte);

    private static bool IsEscapedByte(char c) => c >= '\uDC80' && c <= '\uDCFF';
}
