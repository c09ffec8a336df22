namespace BuildFarm.Store.Nar;

/// <summary>
/// Receives the objects of a NAR as the parser validates them, parents before children; paths are relative to the
/// archive root ("" is the root itself). A directory is ended after all its entries.
/// </summary>
internal interface INarSink
{
    void CreateDirectory(string relativePath);

    void EndDirectory(string relativePath);

    void CreateSymlink(string relativePath, string target);

    /// <summary>Starts a regular file; the parser then writes its contents in order and calls <see cref="INarFile.CompleteAsync"/>.</summary>
    INarFile CreateFile(string relativePath, bool executable, long length);
}

internal interface INarFile : IDisposable
{
    /// <summary>
    /// Where to read the next <paramref name="length"/> bytes of contents (at most <see cref="Local.FileSyncer.ChunkSize"/>)
    /// before handing them to <see cref="WriteAsync"/>; may wait while earlier contents are still being written.
    /// </summary>
    ValueTask<Memory<byte>> GetBufferAsync(int length, CancellationToken cancellationToken);

    /// <summary>The next contents, in the buffer <see cref="GetBufferAsync"/> returned last (which the file takes back).</summary>
    ValueTask WriteAsync(Memory<byte> data, CancellationToken cancellationToken);

    /// <summary>All contents written: the file gets its final mode and time (and may be handed on to be flushed).</summary>
    ValueTask CompleteAsync(CancellationToken cancellationToken);
}

/// <summary>Consumes without writing: validation only.</summary>
internal sealed class NullNarSink : INarSink
{
    public static readonly NullNarSink Instance = new();

    public void CreateDirectory(string relativePath)
    {
    }

    public void EndDirectory(string relativePath)
    {
    }

    public void CreateSymlink(string relativePath, string target)
    {
    }

    public INarFile CreateFile(string relativePath, bool executable, long length) => new PooledNarFile(length);
}

/// <summary>
/// Contents read into one pooled buffer and given to <see cref="Write"/> chunk by chunk (here: dropped); the buffer
/// goes back to the pool when the file is disposed.
/// </summary>
internal class PooledNarFile(long length) : INarFile
{
    private byte[]? _buffer;

    public ValueTask<Memory<byte>> GetBufferAsync(int count, CancellationToken cancellationToken)
    {
        _buffer ??= System.Buffers.ArrayPool<byte>.Shared.Rent((int)Math.Min(Local.FileSyncer.ChunkSize, Math.Max(length, 8)));
        return ValueTask.FromResult(_buffer.AsMemory(0, count));
    }

    public ValueTask WriteAsync(Memory<byte> data, CancellationToken cancellationToken)
    {
        Write(data.Span);
        return ValueTask.CompletedTask;
    }

    protected virtual void Write(ReadOnlySpan<byte> data)
    {
    }

    public virtual ValueTask CompleteAsync(CancellationToken cancellationToken) => ValueTask.CompletedTask;

    public virtual void Dispose()
    {
        if (_buffer is { } buffer)
        {
            _buffer = null;
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
