using System.Security.Cryptography;
using BuildFarm.Store.Hashing;

namespace BuildFarm.Store.Nar;

/// <summary>
/// A pass-through over <paramref name="inner"/> that hashes (SHA-256 unless <paramref name="algorithm"/> says
/// otherwise) and counts every byte read from it or written to it. Wrap <see cref="Stream.Null"/> to hash what a
/// writer produces without keeping it.
/// </summary>
public sealed class HashingStream(Stream inner, bool leaveOpen = false, HashAlgorithmName? algorithm = null) : Stream
{
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(algorithm ?? HashAlgorithmName.SHA256);
    private bool _disposed;

    /// <summary>Bytes that passed through so far.</summary>
    public long BytesCount { get; private set; }

    /// <summary>The SHA-256 of the bytes so far (a stream made with another algorithm throws); may be called repeatedly.</summary>
    public NixHash GetHash() => _hash.AlgorithmName == HashAlgorithmName.SHA256
        ? new(_hash.GetCurrentHash())
        : throw new InvalidOperationException($"this stream hashes with {_hash.AlgorithmName}, not SHA-256");

    /// <summary>The digest of the bytes so far, in the stream's algorithm; may be called repeatedly.</summary>
    public byte[] GetDigest() => _hash.GetCurrentHash();

    public override bool CanRead => inner.CanRead;

    public override bool CanWrite => inner.CanWrite;

    public override bool CanSeek => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => BytesCount;
        set => throw new NotSupportedException();
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        var n = inner.Read(buffer);
        Append(buffer[..n]);
        return n;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var n = await inner.ReadAsync(buffer, cancellationToken);
        Append(buffer.Span[..n]);
        return n;
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        inner.Write(buffer);
        Append(buffer);
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        await inner.WriteAsync(buffer, cancellationToken);
        Append(buffer.Span);
    }

    public override void Flush() => inner.Flush();

    public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing && !_disposed)
        {
            _disposed = true;
            _hash.Dispose();
            if (!leaveOpen)
                inner.Dispose();
        }

        base.Dispose(disposing);
    }

    private void Append(ReadOnlySpan<byte> bytes)
    {
        _hash.AppendData(bytes);
        BytesCount += bytes.Length;
    }
}
