using System.Security.Cryptography;
using BuildFarm.Store.Hashing;
using BuildFarm.Store.Streams;

namespace BuildFarm.Store.Nar;

/// <summary>
/// A write-only sink that hashes each written buffer on the thread pool, so <see cref="NarWriter"/> reads the next
/// megabyte of files while the previous one is hashed. Correct only for callers that keep each buffer untouched
/// until its write completes and never overlap writes, as <see cref="NarOutput"/> does.
/// </summary>
internal sealed class OffloadedHashSink : WriteOnlyStream
{
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);

    public long BytesCount { get; private set; }

    public NixHash GetHash() => new(_hash.GetCurrentHash());

    public override long Position
    {
        get => BytesCount;
        set => throw new NotSupportedException();
    }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) =>
        new(Task.Run(() => Write(buffer.Span), cancellationToken));

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        _hash.AppendData(buffer);
        BytesCount += buffer.Length;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
            _hash.Dispose();
        base.Dispose(disposing);
    }
}
