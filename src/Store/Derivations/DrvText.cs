using System.Text;
using System.Text.Unicode;

namespace BuildFarm.Store.Derivations;

/// <summary>
/// How a <c>.drv</c> travels as text (build requests, the dispatcher's database, the HTTP API, JSON everywhere): its
/// ATerm as is when its bytes are UTF-8, as nearly every <c>.drv</c> is; otherwise <c>base64:</c> and the base64 of its
/// bytes (Nix strings are bytes: a Latin-1 attribute makes a valid <c>.drv</c> that UTF-8 text would alter). An ATerm
/// always starts with <c>Derive(</c>, so the two forms never meet, and either way the bytes come back exactly.
/// </summary>
public static class DrvText
{
    public const string Base64Prefix = "base64:";

    /// <summary>The text form of a <c>.drv</c>'s bytes.</summary>
    public static string FromBytes(ReadOnlySpan<byte> bytes) =>
        Utf8.IsValid(bytes) ? Encoding.UTF8.GetString(bytes) : Base64Prefix + Convert.ToBase64String(bytes);

    /// <summary>The <c>.drv</c>'s bytes, or false with why not (the base64 form is malformed).</summary>
    public static bool TryToBytes(string text, out byte[] bytes, out string? error)
    {
        error = null;
        // Every character is at least one byte, and base64 holds 3 bytes in 4: a longer text is refused unread.
        if (text.Length > Base64Prefix.Length + ((DerivationAterm.MaxBytes + 2) / 3 * 4))
        {
            bytes = [];
            error = DerivationAterm.TooLong(text.StartsWith(Base64Prefix, StringComparison.Ordinal) ? (text.Length - Base64Prefix.Length) / 4 * 3 : Encoding.UTF8.GetByteCount(text)).Message;
            return false;
        }

        if (!text.StartsWith(Base64Prefix, StringComparison.Ordinal))
        {
            // UTF-8, or the parser's own form of other bytes (NixBytes), which maps back to them.
            bytes = NixBytes.Encode(text);
            return true;
        }

        try
        {
            bytes = Convert.FromBase64String(text[Base64Prefix.Length..]);
            return true;
        }
        catch (FormatException e)
        {
            bytes = [];
            error = $"drv text starts with '{Base64Prefix}' but the rest is not base64: {e.Message}";
            return false;
        }
    }
}
