using BuildFarm.Store.Hashing;

namespace BuildFarm.Store.Nar;

/// <summary>The NAR hash (<c>nix-hash --type sha256</c>) and NAR size of a path, without keeping the NAR.</summary>
public static class NarHasher
{
    public static async Task<(NixHash Hash, long Size)> HashPathAsync(string physicalPath, CancellationToken cancellationToken)
    {
        // Reading files and hashing overlap: the writer fills one buffer while the sink hashes the other.
        await using var sink = new OffloadedHashSink();
        await NarWriter.WriteAsync(physicalPath, sink, cancellationToken);
        return (sink.GetHash(), sink.BytesCount);
    }
}
