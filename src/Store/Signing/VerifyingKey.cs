using System.Text;
using NSec.Cryptography;

namespace BuildFarm.Store.Signing;

/// <summary>A named Ed25519 public key, <c>name:base64(32 bytes)</c> as in Nix's <c>trusted-public-keys</c>.</summary>
public sealed class VerifyingKey
{
    public const int Length = 32;

    private readonly PublicKey _key;

    private VerifyingKey(string name, byte[] bytes, PublicKey key)
    {
        Name = name;
        Bytes = bytes;
        _key = key;
    }

    public string Name { get; }

    /// <summary>The raw 32-byte public key.</summary>
    public ReadOnlyMemory<byte> Bytes { get; }

    public static VerifyingKey FromBytes(string name, ReadOnlySpan<byte> bytes)
    {
        KeyText.ValidateName(name);
        if (bytes.Length != Length || !PublicKey.TryImport(SignatureAlgorithm.Ed25519, bytes, KeyBlobFormat.RawPublicKey, out var key) || key is null)
            throw new FormatException($"public key '{name}' is not a valid {Length}-byte Ed25519 public key");
        return new VerifyingKey(name, bytes.ToArray(), key);
    }

    public static bool TryParse(string text, out VerifyingKey? key, out string? error)
    {
        key = null;
        if (!KeyText.TryParse(text, "public key", Length, out var name, out var bytes, out error))
            return false;
        if (!PublicKey.TryImport(SignatureAlgorithm.Ed25519, bytes, KeyBlobFormat.RawPublicKey, out var imported) || imported is null)
        {
            error = $"public key '{name}:…' is not a valid Ed25519 public key";
            return false;
        }

        key = new VerifyingKey(name, bytes, imported);
        return true;
    }

    public static VerifyingKey Parse(string text) =>
        TryParse(text, out var key, out var error) ? key! : throw new FormatException(error);

    /// <summary>True when <paramref name="signature"/> is this key's signature over <paramref name="fingerprint"/>.</summary>
    public bool Verify(string fingerprint, NixSignature signature) =>
        signature.KeyName == Name && SignatureAlgorithm.Ed25519.Verify(_key, Encoding.UTF8.GetBytes(fingerprint), signature.Bytes.Span);

    public override string ToString() => KeyText.Format(Name, Bytes.Span);
}
