using BuildFarm.Store.Hashing;

namespace BuildFarm.Store.Nar;

/// <summary>The NAR hash (<c>nix-hash --type sha256</c>) and NAR size of a path, without keeping the NAR.</summary>
public static class NarHasher
{
    public static async Task<(NixHash Hash, long Size)> HashPathAsync(string physicalPath, CancellationToken cancellationToken)
    {
        await using var sink = new HashingStream(Stream.Null);
        await NarWriter.WriteAsync(physicalPath, sink, cancellationToken);
        return (sink.GetHash(), sink.BytesCount);
    }
}
