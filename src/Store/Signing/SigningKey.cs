using System.Text;
using NSec.Cryptography;

namespace BuildFarm.Store.Signing;

/// <summary>
/// A named Ed25519 secret key in Nix's format: <c>name:base64(seed ‖ public key)</c>, 64 bytes, as written by
/// <c>nix key generate-secret</c>. Signatures are deterministic, so ours equal Nix's byte for byte.
/// </summary>
public sealed class SigningKey
{
    public const int Length = 64;
    private const int SeedLength = 32;

    private readonly byte[] _seed;
    private Key? _imported;

    private SigningKey(string name, byte[] seed, VerifyingKey publicKey)
    {
        Name = name;
        _seed = seed;
        PublicKey = publicKey;
    }

    public string Name { get; }

    public VerifyingKey PublicKey { get; }

    public static SigningKey Generate(string name)
    {
        KeyText.ValidateName(name);
        using var key = Key.Create(SignatureAlgorithm.Ed25519, new KeyCreationParameters { ExportPolicy = KeyExportPolicies.AllowPlaintextExport });
        return FromSeed(name, key.Export(KeyBlobFormat.RawPrivateKey));
    }

    public static bool TryParse(string text, out SigningKey? key, out string? error)
    {
        key = null;
        if (!KeyText.TryParse(text, "secret key", Length, out var name, out var bytes, out error))
            return false;
        var candidate = FromSeed(name, bytes[..SeedLength]);
        if (!candidate.PublicKey.Bytes.Span.SequenceEqual(bytes.AsSpan(SeedLength)))
        {
            error = $"secret key '{name}:…': its last 32 bytes are not the public key of its first 32 (corrupted key?)";
            return false;
        }

        key = candidate;
        return true;
    }

    public static SigningKey Parse(string text) =>
        TryParse(text, out var key, out var error) ? key! : throw new FormatException(error);

    /// <summary>Signs <paramref name="fingerprint"/> (e.g. <see cref="NarInfoFingerprint"/>); returns <c>name:base64sig</c>.</summary>
    public string Sign(string fingerprint) => SignDetached(fingerprint).ToString();

    public NixSignature SignDetached(string fingerprint) =>
        new(Name, SignatureAlgorithm.Ed25519.Sign(Imported(), Encoding.UTF8.GetBytes(fingerprint)));

    /// <summary>
    /// The seed imported once: an import derives the key pair (a scalar multiplication) and maps guarded memory for the
    /// secret, which cost as much as the signature itself when done per signature (every build request, every event).
    /// Two threads racing here import twice and keep one.
    /// </summary>
    private Key Imported()
    {
        if (Volatile.Read(ref _imported) is { } key)
            return key;
        var fresh = Key.Import(SignatureAlgorithm.Ed25519, _seed, KeyBlobFormat.RawPrivateKey);
        if (Interlocked.CompareExchange(ref _imported, fresh, null) is { } won)
        {
            fresh.Dispose();
            return won;
        }

        return fresh;
    }

    /// <summary>The secret key text; keep it out of logs.</summary>
    public override string ToString() => KeyText.Format(Name, [.. _seed, .. PublicKey.Bytes.Span]);

    private static SigningKey FromSeed(string name, byte[] seed)
    {
        using var key = Key.Import(SignatureAlgorithm.Ed25519, seed, KeyBlobFormat.RawPrivateKey);
        return new SigningKey(name, seed, VerifyingKey.FromBytes(name, key.PublicKey.Export(KeyBlobFormat.RawPublicKey)));
    }
}
