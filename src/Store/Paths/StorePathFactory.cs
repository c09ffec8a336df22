using System.Security.Cryptography;
using System.Text;
using BuildFarm.Store.Hashing;

namespace BuildFarm.Store.Paths;

/// <summary>
/// Computes store paths the way Nix does: <c>nix32(compress20(sha256(type:sha256:hex:storeDir:name)))</c>.
/// </summary>
public static class StorePathFactory
{
    /// <summary>The general form; <paramref name="type"/> is e.g. <c>output:out</c>, <c>text:refs…</c>, <c>source</c>.</summary>
    public static StorePath Make(StoreDirectory storeDir, string type, NixHash innerHash, string name)
    {
        var error = StorePath.ValidateName(name);
        if (error is not null)
            throw new FormatException(error);
        var fingerprint = $"{type}:sha256:{innerHash.ToHex()}:{storeDir.Path}:{name}";
        var full = SHA256.HashData(Encoding.UTF8.GetBytes(fingerprint));
        return StorePath.FromDigest(storeDir, Nix32.Encode(Compress(full, 20)), name);
    }

    /// <summary>A text file such as a <c>.drv</c>: <c>text:&lt;sorted refs&gt;</c>.</summary>
    public static StorePath MakeText(StoreDirectory storeDir, string name, byte[] contents, IEnumerable<StorePath> references)
    {
        var type = new StringBuilder("text");
        foreach (var r in references.Select(r => r.FullPath).Order(StringComparer.Ordinal))
            type.Append(':').Append(r);
        return Make(storeDir, type.ToString(), NixHash.Sha256(contents), name);
    }

    /// <summary>A path added by NAR hash (recursive SHA-256), e.g. <c>nix-store --add</c>.</summary>
    public static StorePath MakeSource(StoreDirectory storeDir, string name, NixHash narHash, IEnumerable<StorePath> references, bool selfReference = false)
    {
        var type = new StringBuilder("source");
        foreach (var r in references.Select(r => r.FullPath).Order(StringComparer.Ordinal))
            type.Append(':').Append(r);
        if (selfReference)
            type.Append(":self");
        return Make(storeDir, type.ToString(), narHash, name);
    }

    /// <summary>
    /// A fixed-output path. Recursive SHA-256 coincides with a source path; everything else hashes
    /// <c>fixed:out:[r:]algo:hex:</c>.
    /// </summary>
    public static StorePath MakeFixedOutput(StoreDirectory storeDir, string name, bool recursive, string algorithm, byte[] hash)
    {
        if (recursive && algorithm == "sha256")
            return MakeSource(storeDir, name, new NixHash(hash), []);
        var inner = NixHash.Sha256($"fixed:out:{(recursive ? "r:" : "")}{algorithm}:{Convert.ToHexStringLower(hash)}:");
        return Make(storeDir, "output:out", inner, name);
    }

    /// <summary>XOR-folds <paramref name="hash"/> into <paramref name="size"/> bytes.</summary>
    public static byte[] Compress(ReadOnlySpan<byte> hash, int size)
    {
        var result = new byte[size];
        for (var i = 0; i < hash.Length; i++)
            result[i % size] ^= hash[i];
        return result;
    }
}
