using BuildFarm.Store.Hashing;

namespace BuildFarm.Store.Nar;

/// <summary>The NAR hash (<c>nix-hash --type sha256</c>) and NAR size of a path, without keeping the NAR.</summary>
public static class NarHasher
{
    /// <summary>
    /// Chunk hashed at a time. Measured with bench/store-hash (docs/PERFORMANCE.md): hashing each 128 KiB on the
    /// reading thread, while it is still in cache, costs less CPU than 1 MiB buffers hashed on another thread
    /// (the copy to the other core and back out of memory cost more than the overlap won on 2 loaded cores).
    /// </summary>
    internal const int ChunkSize = 128 * 1024;

    public static async Task<(NixHash Hash, long Size)> HashPathAsync(string physicalPath, CancellationToken cancellationToken)
    {
        await using var sink = new HashingStream(Stream.Null);
        await NarWriter.WriteAsync(physicalPath, sink, ChunkSize, cancellationToken);
        return (sink.GetHash(), sink.BytesCount);
    }
}
