using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace BuildFarm.Store.Streams;

/// <summary>
/// Reads <paramref name="inner"/> (left open) for a receiver that writes what it reads somewhere (a temporary store
/// entry, a quarantine <c>.part</c> file): a read that brings no byte for <paramref name="stallTimeout"/> fails with
/// <see cref="StreamStalledException"/>, and a read pending when the caller's token is cancelled is abandoned at once,
/// even if <paramref name="inner"/> ignores tokens (console and pipe reads do). Either way the receiver's cleanup runs
/// now, not when the sender finally hangs up or the next store open sweeps.
/// </summary>
/// <remarks>
/// Reads ahead: each read of <paramref name="inner"/> asks for a whole buffer (64 KiB) and small reads are served from
/// what is left of it, so a parser reading 8-byte tokens costs one inner read per buffer, not one per token (the
/// worker's input pull read every NAR token through SSH.NET's pipe and a thread-pool hop before this). Callers read
/// the stream to its end or abandon it, so bytes read ahead are never owed to anyone else.
/// An abandoned read may still complete later into this stream's own buffer, never into the caller's (which may be
/// pooled and reused by then), except into arrays registered with <see cref="AllowDirectReads"/>, which large reads
/// fill directly (in a profiled pull, 8 % of the worker's samples were that copy, <c>memmove</c>); after it, every
/// read fails.
/// </remarks>
public sealed class StallGuardStream(Stream inner, TimeSpan? stallTimeout, TimeProvider time) : ReadOnlyStream
{
    private const int BufferSize = 1 << 16;

    private static readonly ConditionalWeakTable<byte[], object> DirectTargets = [];

    private byte[]? _own = new byte[BufferSize];
    private int _start;
    private int _end;

    /// <summary>Bytes handed to the caller so far.</summary>
    public long BytesRead { get; private set; }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var own = _own ?? throw new IOException("the stream was abandoned after a stalled or cancelled read");
        cancellationToken.ThrowIfCancellationRequested();
        if (buffer.Length == 0)
            return 0;
        if (_start == _end && buffer.Length >= BufferSize && MemoryMarshal.TryGetArray<byte>(buffer, out var target) && DirectTargets.TryGetValue(target.Array!, out _))
        {
            // A large read into a buffer that may be filled directly: no copy through our own buffer.
            var read = await FillAsync(buffer, cancellationToken);
            BytesRead += read;
            return read;
        }

        if (_start == _end)
        {
            _start = _end = 0;
            _end = await FillAsync(own, cancellationToken);
            if (_end == 0)
                return 0;
        }

        var n = Math.Min(buffer.Length, _end - _start);
        own.AsSpan(_start, n).CopyTo(buffer.Span);
        _start += n;
        BytesRead += n;
        return n;
    }

    /// <summary>
    /// Lets large reads fill <paramref name="array"/> directly instead of copying from this stream's own buffer. Only
    /// for arrays that nobody else gets after an import fails (a stalled or cancelled read may still complete into
    /// them later, see the remarks): the restore's chunks (<c>FileSyncer</c>), never a pooled array.
    /// </summary>
    public static void AllowDirectReads(byte[] array) => DirectTargets.AddOrUpdate(array, DirectTargets);

    private async ValueTask<int> FillAsync(Memory<byte> target, CancellationToken cancellationToken)
    {
        var pending = inner.ReadAsync(target, cancellationToken);
        if (pending.IsCompletedSuccessfully)
            return pending.Result; // data was already there: no timer, no allocation
        var read = pending.AsTask();
        try
        {
            return stallTimeout is { } timeout
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
}

/// <summary>No byte arrived for <see cref="Timeout"/>; a timeout (transient: a new transfer may work).</summary>
public sealed class StreamStalledException(TimeSpan timeout, long bytesRead)
    : TimeoutException($"the stream stalled: no byte arrived for {timeout.TotalSeconds:0.###} s after {bytesRead} bytes")
{
    public TimeSpan Timeout { get; } = timeout;

    public long BytesRead { get; } = bytesRead;
}
