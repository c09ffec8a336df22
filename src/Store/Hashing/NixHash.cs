using System.Security.Cryptography;

namespace BuildFarm.Store.Hashing;

/// <summary>A SHA-256 digest with Nix's textual forms (<c>sha256:&lt;nix32&gt;</c>, hex, SRI).</summary>
public readonly record struct NixHash(byte[] Bytes)
{
    public const int Sha256Length = 32;

    public static NixHash Sha256(ReadOnlySpan<byte> data) => new(SHA256.HashData(data));

    public static NixHash Sha256(string text) => Sha256(System.Text.Encoding.UTF8.GetBytes(text));

    public string ToNix32() => Nix32.Encode(Bytes);

    public string ToHex() => Convert.ToHexStringLower(Bytes);

    /// <summary>The form Nix prints in narinfo and the signature fingerprint: <c>sha256:&lt;nix32&gt;</c>.</summary>
    public override string ToString() => "sha256:" + ToNix32();

    public bool Equals(NixHash other) => Bytes.AsSpan().SequenceEqual(other.Bytes);

    public override int GetHashCode() => BitConverter.ToInt32(Bytes, 0);

    /// <summary>Parses <c>sha256:&lt;nix32|hex|base64&gt;</c> or a bare nix32/hex SHA-256.</summary>
    public static bool TryParse(string text, out NixHash hash)
    {
        hash = default;
        var body = text.StartsWith("sha256:", StringComparison.Ordinal) ? text[7..]
            : text.StartsWith("sha256-", StringComparison.Ordinal) ? text[7..]
            : text;
        if (body.Length == 52 && Nix32.TryDecode(body, Sha256Length, out var b32))
        {
            hash = new NixHash(b32);
            return true;
        }

        if (body.Length == 64 && body.All(Uri.IsHexDigit))
        {
            hash = new NixHash(Convert.FromHexString(body));
            return true;
        }

        if (body.Length == 44)
        {
            var buf = new byte[33];
            if (Convert.TryFromBase64String(body, buf, out var written) && written == Sha256Length)
            {
                hash = new NixHash(buf[..Sha256Length]);
                return true;
            }
        }

        return false;
    }

    public static NixHash Parse(string text) =>
        TryParse(text, out var h) ? h : throw new FormatException($"'{text}' is not a SHA-256 hash (expected sha256:<nix32>, hex or base64)");
}
