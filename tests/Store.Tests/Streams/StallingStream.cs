namespace BuildFarm.Store.Tests.Streams;

/// <summary>
/// A sender that goes silent: gives <paramref name="prefix"/>, then a read that never completes and ignores its token
/// (as a console or pipe read does), until <see cref="Drop"/> ends it the way a dropped connection does.
/// </summary>
internal sealed class StallingStream(byte[] prefix) : Stream
{
    private readonly TaskCompletionSource<int> _hangUp = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _position;

    /// <summary>Completes when a read found the prefix used up and is now waiting.</summary>
    public TaskCompletionSource Stalled { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>The connection drops: the waiting read (and every later one) fails as a reset connection does.</summary>
    public void Drop() => _hangUp.TrySetException(new IOException("connection reset by peer"));

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_position < prefix.Length)
        {
            var n = Math.Min(buffer.Length, prefix.Length - _position);
            prefix.AsSpan(_position, n).CopyTo(buffer.Span);
            _position += n;
            return n;
        }

        Stalled.TrySetResult();
        return await _hangUp.Task;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException("asynchronous reads only");

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
