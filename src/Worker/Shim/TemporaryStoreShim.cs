// TEMPORARY (branch `worker` only): stands in for the nar helper's Signing API (same names and signatures)
// until src/Store/Signing lands on main. Delete this file when `git merge main` brings it.
#pragma warning disable
using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using BuildFarm.Store.Hashing;
using BuildFarm.Store.Paths;
using NSec.Cryptography;

namespace BuildFarm.Store.Signing
{
    internal sealed record SignatureCheck(bool IsValid, string? KeyName, string Reason);

    internal sealed class VerifyingKey(string name, byte[] bytes)
    {
        public string Name { get; } = name;
        public ReadOnlyMemory<byte> Bytes { get; } = bytes;

        public static VerifyingKey Parse(string text)
        {
            var (name, data) = Split(text, 32, "public key");
            return new VerifyingKey(name, data);
        }

        public bool Verify(string fingerprint, byte[] signature) =>
            PublicKey.TryImport(SignatureAlgorithm.Ed25519, Bytes.Span, KeyBlobFormat.RawPublicKey, out var key)
            && SignatureAlgorithm.Ed25519.Verify(key!, Encoding.UTF8.GetBytes(fingerprint), signature);

        public override string ToString() => Name + ":" + Convert.ToBase64String(Bytes.Span);

        internal static (string Name, byte[] Data) Split(string text, int length, string what)
        {
            var t = text.Trim();
            var colon = t.IndexOf(':');
            if (colon <= 0)
                throw new FormatException($"{what} has no 'name:' prefix (expected name:base64)");
            byte[] data;
            try { data = Convert.FromBase64String(t[(colon + 1)..]); }
            catch (FormatException) { throw new FormatException($"{what} '{t[..colon]}:…': the part after ':' is not valid base64"); }
            if (data.Length != length)
                throw new FormatException($"{what} '{t[..colon]}:…': the base64 data decodes to {data.Length} bytes, expected {length}");
            return (t[..colon], data);
        }
    }

    internal sealed class SigningKey
    {
        private readonly byte[] _seed;

        private SigningKey(string name, byte[] seed)
        {
            Name = name;
            _seed = seed;
            using var key = Key.Import(SignatureAlgorithm.Ed25519, seed, KeyBlobFormat.RawPrivateKey);
            PublicKey = new VerifyingKey(name, key.PublicKey.Export(KeyBlobFormat.RawPublicKey));
        }

        public string Name { get; }
        public VerifyingKey PublicKey { get; }

        public static SigningKey Generate(string name)
        {
            using var key = Key.Create(SignatureAlgorithm.Ed25519, new KeyCreationParameters { ExportPolicy = KeyExportPolicies.AllowPlaintextExport });
            return new SigningKey(name, key.Export(KeyBlobFormat.RawPrivateKey));
        }

        public static SigningKey Parse(string text)
        {
            var (name, data) = VerifyingKey.Split(text, 64, "secret key");
            return new SigningKey(name, data[..32]);
        }

        public string Sign(string fingerprint)
        {
            using var key = Key.Import(SignatureAlgorithm.Ed25519, _seed, KeyBlobFormat.RawPrivateKey);
            return Name + ":" + Convert.ToBase64String(SignatureAlgorithm.Ed25519.Sign(key, Encoding.UTF8.GetBytes(fingerprint)));
        }

        public override string ToString() => Name + ":" + Convert.ToBase64String([.. _seed, .. PublicKey.Bytes.Span]);
    }

    internal sealed class TrustedKeys(IEnumerable<VerifyingKey> keys)
    {
        private readonly Dictionary<string, VerifyingKey> _byName = keys.ToDictionary(k => k.Name, StringComparer.Ordinal);

        public IReadOnlyCollection<VerifyingKey> Keys => _byName.Values;

        public static TrustedKeys Parse(string text, string source)
        {
            var list = new List<VerifyingKey>();
            var lines = text.Split('\n');
            for (var i = 0; i < lines.Length; i++)
            {
                var line = lines[i].Split('#')[0].Trim();
                if (line.Length == 0) continue;
                try { list.Add(VerifyingKey.Parse(line)); }
                catch (FormatException e) { throw new FormatException($"{source}:{i + 1}: {e.Message}"); }
            }
            return new TrustedKeys(list);
        }

        public SignatureCheck VerifyAny(string fingerprint, IEnumerable<string> signatures)
        {
            var problems = new List<string>();
            foreach (var text in signatures)
            {
                string name; byte[] sig;
                try { (name, sig) = VerifyingKey.Split(text, 64, "signature"); }
                catch (FormatException e) { problems.Add(e.Message); continue; }
                if (!_byName.TryGetValue(name, out var key)) { problems.Add($"signature by '{name}': no trusted key has that name"); continue; }
                if (key.Verify(fingerprint, sig)) return new SignatureCheck(true, name, $"signed by trusted key '{name}'");
                problems.Add($"signature by '{name}': bad signature (does not match the fingerprint with that trusted key)");
            }
            return new SignatureCheck(false, null, problems.Count == 0 ? "the path has no signatures" : string.Join("; ", problems));
        }
    }

    internal static class NarInfoFingerprint
    {
        public static string Compute(StorePath path, NixHash narHash, long narSize, IEnumerable<StorePath> references) =>
            $"1;{path.FullPath};{narHash};{narSize};{string.Join(',', references.Select(r => r.FullPath).Distinct().Order(StringComparer.Ordinal))}";
    }
}

