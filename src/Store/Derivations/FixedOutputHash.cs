using BuildFarm.Store.Hashing;
using BuildFarm.Store.Nar;

namespace BuildFarm.Store.Derivations;

/// <summary>
/// The expected content hash of a fixed output: flat (hash of the file) or recursive (hash of the NAR).
/// Kept as lower-case hex, the form the <c>.drv</c> file stores.
/// </summary>
public sealed record FixedOutputHash
{
    public FixedOutputHash(OutputHashAlgorithm algorithm, bool recursive, ReadOnlySpan<byte> digest)
    {
        if (digest.Length != algorithm.Size())
            throw new ArgumentException($"a {algorithm.Name()} digest has {algorithm.Size()} bytes, not {digest.Length}", nameof(digest));
        Algorithm = algorithm;
        Recursive = recursive;
        Hex = Convert.ToHexStringLower(digest);
    }

    public OutputHashAlgorithm Algorithm { get; }

    /// <summary>True for <c>outputHashMode = "recursive"</c> (NAR serialisation), false for flat.</summary>
    public bool Recursive { get; }

    public string Hex { get; }

    public byte[] Digest => Convert.FromHexString(Hex);

    /// <summary>The <c>hashAlgo</c> field of a <c>.drv</c> output: <c>r:sha256</c>, <c>sha1</c>, …</summary>
    public string MethodAlgo => (Recursive ? "r:" : "") + Algorithm.Name();

    /// <summary>
    /// Nix's content address of a path with this content (its <c>ca</c>, <c>renderContentAddress</c>):
    /// <c>fixed:</c>, <c>r:</c> when recursive, then <c>algo:nix32</c>.
    /// </summary>
    public string ContentAddress => "fixed:" + (Recursive ? "r:" : "") + Algorithm.Name() + ":" + Hashing.Nix32.Encode(Digest);

    /// <summary>SRI form, e.g. <c>sha256-base64</c>.</summary>
    public string ToSri() => Algorithm.Name() + "-" + Convert.ToBase64String(Digest);

    /// <summary>
    /// What the file system object at <paramref name="physicalPath"/> hashes to, as Nix computes a fixed output's
    /// content hash: the file's bytes (flat; the caller checks that it is a regular file) or its NAR serialisation
    /// (recursive), with <paramref name="algorithm"/>.
    /// </summary>
    public static async Task<FixedOutputHash> ComputeAsync(
        string physicalPath, OutputHashAlgorithm algorithm, bool recursive, CancellationToken cancellationToken)
    {
        if (recursive)
            return new FixedOutputHash(algorithm, recursive, NarHasher.HashPath(physicalPath, algorithm.HashAlgorithmName(), cancellationToken).Digest);

        await using var sink = new HashingStream(Stream.Null, algorithm: algorithm.HashAlgorithmName());
        await using var file = new FileStream(physicalPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, useAsync: true);
        await file.CopyToAsync(sink, cancellationToken);
        return new FixedOutputHash(algorithm, recursive, sink.GetDigest());
    }

    /// <summary>
    /// Parses a digest the ways Nix accepts it in <c>outputHash</c>: hex, nix32 or base64 of the right length,
    /// <c>algo:&lt;digest&gt;</c>, or SRI <c>algo-base64</c>. <paramref name="algorithm"/> may be null when the
    /// text names the algorithm itself.
    /// </summary>
    public static bool TryParse(string text, OutputHashAlgorithm? algorithm, bool recursive, out FixedOutputHash? hash, out string? error)
    {
        hash = null;
        var body = text;
        var sri = false;
        if (TrySplitPrefix(text, ':', out var named, out var rest) || (sri = TrySplitPrefix(text, '-', out named, out rest)))
        {
            if (algorithm is { } expected && expected != named)
            {
                error = $"hash '{text}' is a {named.Name()} hash, but the algorithm is {expected.Name()}";
                return false;
            }

            algorithm = named;
            body = rest;
        }

        if (algorithm is not { } algo)
        {
            error = $"hash '{text}' does not name its algorithm (give the algorithm, or write it as algo:hash or SRI algo-base64)";
            return false;
        }

        var size = algo.Size();
        byte[]? digest = null;
        if (sri)
            digest = TryBase64(body, size);
        else if (body.Length == size * 2 && body.All(Uri.IsHexDigit))
            digest = Convert.FromHexString(body);
        else if (body.Length == Nix32.EncodedLength(size) && Nix32.TryDecode(body, size, out var decoded))
            digest = decoded;
        else
            digest = TryBase64(body, size);

        if (digest is null)
        {
            error = $"hash '{text}' is not a {algo.Name()} digest in hex ({size * 2} chars), nix32 ({Nix32.EncodedLength(size)} chars) or base64";
            return false;
        }

        hash = new FixedOutputHash(algo, recursive, digest);
        error = null;
        return true;
    }

    private static bool TrySplitPrefix(string text, char separator, out OutputHashAlgorithm algorithm, out string rest)
    {
        var i = text.IndexOf(separator, StringComparison.Ordinal);
        rest = i < 0 ? text : text[(i + 1)..];
        algorithm = default;
        return i > 0 && OutputHashAlgorithms.TryParse(text[..i], out algorithm);
    }

    private static byte[]? TryBase64(string body, int size)
    {
        var buffer = new byte[size + 3];
        return Convert.TryFromBase64String(body, buffer, out var written) && written == size ? buffer[..size] : null;
    }
}
