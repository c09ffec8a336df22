using BuildFarm.Store.Streams;

namespace BuildFarm.Transfer.Exec;

/// <summary>
/// Read-only view of a remote command's stdout. SSH.NET signals both "command finished" and "connection lost" as
/// end of stream; at end of stream this looks at how the command ended and throws for a lost connection or a
/// cancellation, so a truncated stream never passes for a complete one.
/// </summary>
internal sealed class ExecOutputStream(SshNetProcess process, Stream inner) : ReadOnlyStream
{
    private long _peak;
    private long _read;

    public long PeakBuffered => Interlocked.Read(ref _peak);

    public long BytesRead => Interlocked.Read(ref _read);

    public override long Position
    {
        get => BytesRead;
        set => throw new NotSupportedException();
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        SampleBacklog();
        var n = inner.Read(buffer);
        if (n == 0 && buffer.Length > 0)
            process.ObserveExecutionAsync(BytesRead, CancellationToken.None).GetAwaiter().GetResult();
        Interlocked.Add(ref _read, n);
        return n;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        // SSH.NET's pipe has no async read. With data already there (its only reader is us) a read returns at once:
        // read here. Otherwise a blocking read on the thread pool; cancellation of the process (or of the caller's
        // token, which should be the process's lifetime token) wakes it by ending the pipe.
        var n = SampleBacklog() > 0 && buffer.Length > 0
            ? inner.Read(buffer.Span)
            : await Task.Run(() => inner.Read(buffer.Span), cancellationToken);
        if (n == 0 && buffer.Length > 0)
            await process.ObserveExecutionAsync(BytesRead, cancellationToken);
        Interlocked.Add(ref _read, n);
        return n;
    }

    /// <returns>Bytes waiting in the pipe (0 when it is gone).</returns>
    private long SampleBacklog()
    {
        long backlog;
        try
        {
            backlog = inner.Length;
        }
        catch (ObjectDisposedException)
        {
            return 0;
        }

        long peak;
        while (backlog > (peak = Interlocked.Read(ref _peak)) && Interlocked.CompareExchange(ref _peak, backlog, peak) != peak)
        {
        }

        return backlog;
    }
}
