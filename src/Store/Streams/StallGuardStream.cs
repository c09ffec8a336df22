namespace BuildFarm.Store.Streams;

/// <summary>
/// Reads <paramref name="inner"/> (left open) for a receiver that writes what it reads somewhere (a temporary store
/// entry, a quarantine <c>.part</c> file): a read that brings no byte for <paramref name="stallTimeout"/> fails with
/// <see cref="StreamStalledException"/>, and a read pending when the caller's token is cancelled is abandoned at once,
/// even if <paramref name="inner"/> ignores tokens (console and pipe reads do). Either way the receiver's cleanup runs
/// now, not when the sender finally hangs up or the next store open sweeps.
/// </summary>
/// <remarks>
/// An abandoned read may still complete later into this stream's own buffer, never into the caller's (which may be
/// pooled and reused by then); after it, every read fails.
/// </remarks>
public sealed class StallGuardStream(Stream inner, TimeSpan? stallTimeout, TimeProvider time) : ReadOnlyStream
{
    private byte[]? _own = new byte[1 << 16];

    /// <summary>Bytes handed to the caller so far.</summary>
    public long BytesRead { get; private set; }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var own = _own ?? throw new IOException("the stream was abandoned after a stalled or cancelled read");
        cancellationToken.ThrowIfCancellationRequested();
        if (buffer.Length == 0)
            return 0;
        var pending = inner.ReadAsync(own.AsMemory(0, Math.Min(buffer.Length, own.Length)), cancellationToken);
        int n;
        if (pending.IsCompletedSuccessfully)
        {
            // Data was already there (most of a NAR's small token reads): no timer, no allocation.
            n = pending.Result;
        }
        else
        {
            var read = pending.AsTask();
            try
            {
                n = stallTimeout is { } timeout
                    ? await read.WaitAsync(timeout, time, cancellationToken)
                    : await read.WaitAsync(cancellationToken);
            }
            catch (Exception e) when (e is TimeoutException or OperationCanceledException && !read.IsCompleted)
            {
                _own = null;
                _ = read.ContinueWith(static t => t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
                if (e is TimeoutException)
                    throw new StreamStalledException(stallTimeout!.Value, BytesRead);
                throw;
            }
        }

        own.AsSpan(0, n).CopyTo(buffer.Span);
        BytesRead += n;
        return n;
    }
}

/// <summary>No byte arrived for <see cref="Timeout"/>; a timeout (transient: a new transfer may work).</summary>
public sealed class StreamStalledException(TimeSpan timeout, long bytesRead)
    : TimeoutException($"the stream stalled: no byte arrived for {timeout.TotalSeconds:0.###} s after {bytesRead} bytes")
{
    public TimeSpan Timeout { get; } = timeout;

    public long BytesRead { get; } = bytesRead;
}
