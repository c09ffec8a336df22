namespace BuildFarm.Store.Archives;

/// <summary>
/// Reads at most <paramref name="limit"/> bytes from <paramref name="inner"/> (left open); asking for a byte past the
/// limit throws <see cref="LimitExceededException"/>, so a NAR longer than its signed size stops there instead of
/// being written to disk while the stream lasts.
/// </summary>
internal sealed class BoundedReadStream(Stream inner, long limit) : Stream
{
    private readonly long _limit = limit;
    private long _remaining = limit;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        if (buffer.Length == 0)
            return 0;
        var read = inner.Read(buffer[..Allow(buffer.Length)]);
        _remaining -= read;
        return read;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (buffer.Length == 0)
            return 0;
        var read = await inner.ReadAsync(buffer[..Allow(buffer.Length)], cancellationToken);
        _remaining -= read;
        return read;
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    private int Allow(int wanted) =>
        _remaining > 0 ? (int)Math.Min(wanted, _remaining) : throw new LimitExceededException(_limit);

    /// <summary>The reader asked for more than the limit.</summary>
    internal sealed class LimitExceededException(long limit) : IOException($"more than {limit} bytes")
    {
        public long Limit { get; } = limit;
    }
}
