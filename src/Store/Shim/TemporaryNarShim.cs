// TEMPORARY (branch `store` only): stands in for the nar helper's NAR and signing API until it lands on main.
// Delete this folder when merging main brings the real src/Store/Nar and src/Store/Signing.
#pragma warning disable
using System.Buffers.Binary;
using System.Text;
using BuildFarm.Store.Hashing;
using BuildFarm.Store.Paths;
using NSec.Cryptography;

namespace BuildFarm.Store.Nar
{
    public sealed class NarFormatException(string message) : Exception(message);

    public sealed class HashingStream(Stream inner, bool leaveOpen = false) : Stream
    {
        private readonly System.Security.Cryptography.IncrementalHash _hash = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
        public long BytesCount { get; private set; }
        public NixHash GetHash() => new(_hash.GetCurrentHash());
        public override bool CanRead => inner.CanRead;
        public override bool CanWrite => inner.CanWrite;
        public override bool CanSeek => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => BytesCount; set => throw new NotSupportedException(); }
        public override int Read(byte[] buffer, int offset, int count) { var n = inner.Read(buffer, offset, count); A(buffer.AsSpan(offset, n)); return n; }
        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default) { var n = await inner.ReadAsync(buffer, ct); A(buffer.Span[..n]); return n; }
        public override Task<int> ReadAsync(byte[] b, int o, int c, CancellationToken ct) => ReadAsync(b.AsMemory(o, c), ct).AsTask();
        public override void Write(byte[] buffer, int offset, int count) { inner.Write(buffer, offset, count); A(buffer.AsSpan(offset, count)); }
        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken ct = default) { await inner.WriteAsync(buffer, ct); A(buffer.Span); }
        public override Task WriteAsync(byte[] b, int o, int c, CancellationToken ct) => WriteAsync(b.AsMemory(o, c), ct).AsTask();
        public override void Flush() => inner.Flush();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        protected override void Dispose(bool d) { if (d && !leaveOpen) inner.Dispose(); base.Dispose(d); }
        private void A(ReadOnlySpan<byte> b) { _hash.AppendData(b); BytesCount += b.Length; }
    }

    public static class NarHasher
    {
        public static async Task<(NixHash Hash, long Size)> HashPathAsync(string physicalPath, CancellationToken ct)
        {
            await using var sink = new HashingStream(Stream.Null);
            await NarWriter.WriteAsync(physicalPath, sink, ct);
            return (sink.GetHash(), sink.BytesCount);
        }
    }

    public static class NarWriter
    {
        public static async Task WriteAsync(string physicalPath, Stream output, CancellationToken ct)
        {
            var ms = new MemoryStream();
            S(ms, "nix-archive-1");
            Obj(ms, physicalPath);
            ms.Position = 0;
            await ms.CopyToAsync(output, ct);
        }

        private static void Obj(Stream o, string p)
        {
            var fi = new FileInfo(p);
            S(o, "("); S(o, "type");
            if (fi.LinkTarget is not null) { S(o, "symlink"); S(o, "target"); S(o, fi.LinkTarget); }
            else if (Directory.Exists(p))
            {
                S(o, "directory");
                foreach (var e in Directory.EnumerateFileSystemEntries(p).Select(Path.GetFileName).Order(StringComparer.Ordinal))
                { S(o, "entry"); S(o, "("); S(o, "name"); S(o, e!); S(o, "node"); Obj(o, Path.Combine(p, e!)); S(o, ")"); }
            }
            else
            {
                S(o, "regular");
                if ((File.GetUnixFileMode(p) & UnixFileMode.UserExecute) != 0) { S(o, "executable"); S(o, ""); }
                S(o, "contents"); B(o, File.ReadAllBytes(p));
            }
            S(o, ")");
        }

        private static void S(Stream o, string s) => B(o, Encoding.UTF8.GetBytes(s));
        private static void B(Stream o, byte[] b)
        {
            Span<byte> n = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(n, (ulong)b.Length);
            o.Write(n); o.Write(b);
            o.Write(new byte[(8 - b.Length % 8) % 8]);
        }
    }

    public static class NarReader
    {
        public static async Task RestoreAsync(Stream input, string targetPath, CancellationToken ct)
        {
            try
            {
                if (await S(input, ct) != "nix-archive-1") throw new NarFormatException("bad NAR magic");
                await Obj(input, targetPath, ct);
            }
            catch (Exception)
            {
                if (Directory.Exists(targetPath) || File.Exists(targetPath)) { Chmod(targetPath); if (Directory.Exists(targetPath)) Directory.Delete(targetPath, true); else File.Delete(targetPath); }
                throw;
            }
        }

        public static async Task SkipAsync(Stream input, CancellationToken ct)
        {
            var t = Path.Combine(Path.GetTempPath(), "narskip-" + Guid.NewGuid());
            await RestoreAsync(input, t, ct);
            Chmod(t); if (Directory.Exists(t)) Directory.Delete(t, true); else File.Delete(t);
        }

        private static void Chmod(string p) { if (Directory.Exists(p) && new FileInfo(p).LinkTarget is null) { File.SetUnixFileMode(p, (UnixFileMode)0x1ED); foreach (var d in Directory.GetDirectories(p)) Chmod(d); } }

        private static async Task Obj(Stream i, string p, CancellationToken ct)
        {
            if (await S(i, ct) != "(" || await S(i, ct) != "type") throw new NarFormatException("expected ( type");
            var t = await S(i, ct);
            if (t == "regular")
            {
                var x = await S(i, ct); var exec = false;
                if (x == "executable") { if (await S(i, ct) != "") throw new NarFormatException("bad exec"); exec = true; x = await S(i, ct); }
                if (x != "contents") throw new NarFormatException("expected contents");
                await File.WriteAllBytesAsync(p, await B(i, ct), ct);
                File.SetUnixFileMode(p, exec ? (UnixFileMode)0x16D : (UnixFileMode)0x124);
            }
            else if (t == "symlink") { if (await S(i, ct) != "target") throw new NarFormatException("expected target"); File.CreateSymbolicLink(p, await S(i, ct)); }
            else if (t == "directory")
            {
                Directory.CreateDirectory(p);
                string? prev = null;
                while (true)
                {
                    var tok = await S(i, ct);
                    if (tok == ")") { File.SetUnixFileMode(p, (UnixFileMode)0x16D); return; }
                    if (tok != "entry" || await S(i, ct) != "(" || await S(i, ct) != "name") throw new NarFormatException("expected entry");
                    var n = await S(i, ct);
                    if (n.Length == 0 || n is "." or ".." || n.Contains('/') || (prev is not null && string.CompareOrdinal(prev, n) >= 0)) throw new NarFormatException($"bad entry name '{n}'");
                    prev = n;
                    if (await S(i, ct) != "node") throw new NarFormatException("expected node");
                    await Obj(i, Path.Combine(p, n), ct);
                    if (await S(i, ct) != ")") throw new NarFormatException("expected )");
                }
            }
            else throw new NarFormatException($"bad type '{t}'");
            if (await S(i, ct) != ")") throw new NarFormatException("expected )");
        }

        private static async Task<string> S(Stream i, CancellationToken ct) => Encoding.UTF8.GetString(await B(i, ct));
        private static async Task<byte[]> B(Stream i, CancellationToken ct)
        {
            var n = new byte[8];
            try
            {
                await i.ReadExactlyAsync(n, ct);
                var len = BinaryPrimitives.ReadUInt64LittleEndian(n);
                if (len > 1 << 30) throw new NarFormatException("string too long");
                var b = new byte[len];
                await i.ReadExactlyAsync(b, ct);
                var pad = new byte[(8 - (int)len % 8) % 8];
                await i.ReadExactlyAsync(pad, ct);
                if (pad.Any(x => x != 0)) throw new NarFormatException("bad padding");
                return b;
            }
            catch (EndOfStreamException) { throw new NarFormatException("NAR truncated"); }
        }
    }
}

namespace BuildFarm.Store.Signing
{
    public sealed record SignatureCheck(bool IsValid, string Reason);

    public sealed class SigningKey
    {
        private readonly Key _key;
        private SigningKey(string name, Key key) { Name = name; _key = key; }
        public string Name { get; }
        public string PublicKey => Name + ":" + Convert.ToBase64String(_key.PublicKey.Export(KeyBlobFormat.RawPublicKey));
        public static SigningKey Generate(string name) => new(name, Key.Create(SignatureAlgorithm.Ed25519, new KeyCreationParameters { ExportPolicy = KeyExportPolicies.AllowPlaintextExport }));
        public static SigningKey Parse(string text)
        {
            var i = text.IndexOf(':');
            var raw = Convert.FromBase64String(text[(i + 1)..].Trim());
            return new(text[..i], Key.Import(SignatureAlgorithm.Ed25519, raw.AsSpan(0, 32), KeyBlobFormat.RawPrivateKey, new KeyCreationParameters { ExportPolicy = KeyExportPolicies.AllowPlaintextExport }));
        }
        public string Secret => Name + ":" + Convert.ToBase64String([.. _key.Export(KeyBlobFormat.RawPrivateKey), .. _key.PublicKey.Export(KeyBlobFormat.RawPublicKey)]);
        public string Sign(string fingerprint) => Name + ":" + Convert.ToBase64String(SignatureAlgorithm.Ed25519.Sign(_key, Encoding.UTF8.GetBytes(fingerprint)));
    }

    public sealed class VerifyingKey
    {
        private readonly PublicKey _key;
        private VerifyingKey(string name, PublicKey key) { Name = name; _key = key; }
        public string Name { get; }
        public static VerifyingKey Parse(string text) { var i = text.IndexOf(':'); return new(text[..i], PublicKey.Import(SignatureAlgorithm.Ed25519, Convert.FromBase64String(text[(i + 1)..].Trim()), KeyBlobFormat.RawPublicKey)); }
        public bool Verify(string fingerprint, string sig)
        {
            var i = sig.IndexOf(':');
            if (i < 0 || sig[..i] != Name) return false;
            try { return SignatureAlgorithm.Ed25519.Verify(_key, Encoding.UTF8.GetBytes(fingerprint), Convert.FromBase64String(sig[(i + 1)..])); } catch (FormatException) { return false; }
        }
    }

    public sealed class TrustedKeys(IReadOnlyList<VerifyingKey> keys)
    {
        public static TrustedKeys Load(string file) => new(File.ReadAllLines(file).Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')).Select(VerifyingKey.Parse).ToList());
        public SignatureCheck VerifyAny(string fingerprint, IEnumerable<string> sigs)
        {
            var list = sigs.ToList();
            if (list.Count == 0) return new(false, "no signatures");
            foreach (var s in list)
                foreach (var k in keys)
                    if (k.Verify(fingerprint, s)) return new(true, $"signed by trusted key '{k.Name}'");
            return new(false, $"none of the signatures ({string.Join(", ", list.Select(s => s.Split(':')[0]))}) is a valid signature by a trusted key");
        }
    }

    public static class NarInfoFingerprint
    {
        public static string Compute(StorePath path, NixHash narHash, long narSize, IEnumerable<StorePath> refs) =>
            $"1;{path.FullPath};sha256:{narHash.ToNix32()};{narSize};{string.Join(',', refs.Select(r => r.FullPath).Order(StringComparer.Ordinal))}";
    }
}
