// TEMPORARY (branch `store` only): stands in for the nar helper's signing API (same public surface) until it lands
// on main. Delete this folder when merging main brings src/Store/Signing.
#pragma warning disable
using System.Text;
using BuildFarm.Store.Hashing;
using BuildFarm.Store.Paths;
using NSec.Cryptography;

namespace BuildFarm.Store.Signing;

public sealed record SignatureCheck(bool IsValid, string? KeyName, string Reason);

public sealed class SigningKey
{
    private readonly Key _key;
    private SigningKey(string name, Key key) { Name = name; _key = key; PublicKey = VerifyingKey.Parse(name + ":" + Convert.ToBase64String(key.PublicKey.Export(KeyBlobFormat.RawPublicKey))); }
    public string Name { get; }
    public VerifyingKey PublicKey { get; }
    public static SigningKey Generate(string name) => new(name, Key.Create(SignatureAlgorithm.Ed25519, new KeyCreationParameters { ExportPolicy = KeyExportPolicies.AllowPlaintextExport }));
    public static SigningKey Parse(string text)
    {
        var i = text.IndexOf(':');
        if (i <= 0) throw new FormatException($"secret key '{text}' is not name:base64");
        var raw = Convert.FromBase64String(text[(i + 1)..].Trim());
        return new(text[..i], Key.Import(SignatureAlgorithm.Ed25519, raw.AsSpan(0, 32), KeyBlobFormat.RawPrivateKey, new KeyCreationParameters { ExportPolicy = KeyExportPolicies.AllowPlaintextExport }));
    }
    public override string ToString() => Name + ":" + Convert.ToBase64String([.. _key.Export(KeyBlobFormat.RawPrivateKey), .. _key.PublicKey.Export(KeyBlobFormat.RawPublicKey)]);
    public string Sign(string fingerprint) => Name + ":" + Convert.ToBase64String(SignatureAlgorithm.Ed25519.Sign(_key, Encoding.UTF8.GetBytes(fingerprint)));
}

public sealed class VerifyingKey
{
    private readonly PublicKey _key;
    private readonly string _text;
    private VerifyingKey(string name, PublicKey key, string text) { Name = name; _key = key; _text = text; }
    public string Name { get; }
    public static VerifyingKey Parse(string text) { var i = text.IndexOf(':'); return new(text[..i], PublicKey.Import(SignatureAlgorithm.Ed25519, Convert.FromBase64String(text[(i + 1)..].Trim()), KeyBlobFormat.RawPublicKey), text.Trim()); }
    public override string ToString() => _text;
    internal bool Verify(string fingerprint, string sig)
    {
        var i = sig.IndexOf(':');
        if (i < 0 || sig[..i] != Name) return false;
        try { return SignatureAlgorithm.Ed25519.Verify(_key, Encoding.UTF8.GetBytes(fingerprint), Convert.FromBase64String(sig[(i + 1)..])); } catch (FormatException) { return false; }
    }
}

public sealed class TrustedKeys(IEnumerable<VerifyingKey> keys)
{
    private readonly List<VerifyingKey> _keys = keys.ToList();
    public static async Task<TrustedKeys> LoadAsync(string file, CancellationToken ct) => Parse(await File.ReadAllTextAsync(file, ct), file);
    public static TrustedKeys Parse(string text, string source) => new(text.Split('\n').Select(l => l.Split('#')[0].Trim()).Where(l => l.Length > 0).Select(VerifyingKey.Parse).ToList());
    public SignatureCheck VerifyAny(string fingerprint, IEnumerable<string> sigs)
    {
        var list = sigs.ToList();
        if (list.Count == 0) return new(false, null, "the path has no signatures");
        foreach (var s in list)
            foreach (var k in _keys)
                if (k.Verify(fingerprint, s)) return new(true, k.Name, $"signed by trusted key '{k.Name}'");
        return new(false, null, string.Join("; ", list.Select(s => $"signature by '{s.Split(':')[0]}': no trusted key with that name verifies it")));
    }
}

public static class NarInfoFingerprint
{
    public static string Compute(StorePath path, NixHash narHash, long narSize, IEnumerable<StorePath> refs) =>
        $"1;{path.FullPath};sha256:{narHash.ToNix32()};{narSize};{string.Join(',', refs.Select(r => r.FullPath).Distinct().Order(StringComparer.Ordinal))}";
}
