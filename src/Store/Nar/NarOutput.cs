using System.Buffers;
using System.Buffers.Binary;
using Microsoft.Win32.SafeHandles;

namespace BuildFarm.Store.Nar;

/// <summary>
/// Batches NAR tokens and file contents into large buffers so the output (a pipe, a socket or a hash) sees
/// few, big writes; file contents are read straight into the free part of the current buffer. Two buffers
/// alternate: while the output consumes one (if its writes are truly asynchronous, e.g. hashing on another
/// core), the next is filled. At most one write to the output is in flight at a time.
/// </summary>
internal sealed class NarOutput(Stream output, int bufferSize = NarOutput.BufferSize) : IDisposable
{
    public const int BufferSize = 1 << 20;

    private byte[] _buffer = ArrayPool<byte>.Shared.Rent(bufferSize);
    private byte[] _spare = ArrayPool<byte>.Shared.Rent(bufferSize);
    private Task? _inFlight;
    private int _count;

    public async ValueTask WriteAsync(byte[] bytes, CancellationToken cancellationToken)
    {
        if (_count + bytes.Length > _buffer.Length)
            await FlushAsync(cancellationToken);
        if (bytes.Length > _buffer.Length)
        {
            await CompleteInFlightAsync();
            await output.WriteAsync(bytes, cancellationToken);
            return;
        }

        bytes.CopyTo(_buffer, _count);
        _count += bytes.Length;
    }

    /// <summary>Writes <c>str(bytes)</c>: length, bytes, zero padding.</summary>
    public async ValueTask WriteStringAsync(byte[] bytes, CancellationToken cancellationToken)
    {
        await WriteU64Async((ulong)bytes.Length, cancellationToken);
        await WriteAsync(bytes, cancellationToken);
        await WritePaddingAsync(bytes.Length, cancellationToken);
    }

    /// <summary>
    /// Writes <c>str(contents)</c> of an open regular file whose size was <paramref name="length"/> when stat'ed.
    /// A file that shrinks meanwhile is an error (the length is already written); like Nix, growth is ignored.
    /// </summary>
    /// <remarks><paramref name="file"/> is read from its current position (opened by <see cref="Local.StoreFiles.OpenRead"/>).</remarks>
    public async ValueTask WriteFileContentsAsync(SafeFileHandle file, long length, string path, CancellationToken cancellationToken)
    {
        await WriteU64Async((ulong)length, cancellationToken);
        long offset = 0;
        while (offset < length)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (_count == _buffer.Length)
                await FlushAsync(cancellationToken);
            var want = (int)Math.Min(_buffer.Length - _count, length - offset);

            // Synchronous read: the page cache answers faster than a thread-pool hop would.
            var n = Local.StoreFiles.Read(file, _buffer.AsSpan(_count, want));
            if (n == 0)
                throw new IOException($"file '{path}' shrank from {length} to {offset} bytes while it was being archived");
            _count += n;
            offset += n;
        }

        await WritePaddingAsync(length, cancellationToken);
    }

    /// <summary>Hands the filled buffer to the output and continues in the other one.</summary>
    public async ValueTask FlushAsync(CancellationToken cancellationToken)
    {
        if (_count == 0)
            return;
        await CompleteInFlightAsync();
        _inFlight = output.WriteAsync(_buffer.AsMemory(0, _count), cancellationToken).AsTask();
        (_buffer, _spare) = (_spare, _buffer);
        _count = 0;
    }

    /// <summary>Flushes and waits until the output has taken every byte.</summary>
    public async ValueTask CompleteAsync(CancellationToken cancellationToken)
    {
        await FlushAsync(cancellationToken);
        await CompleteInFlightAsync();
    }

    public void Dispose()
    {
        if (_buffer.Length == 0)
            return;
        ArrayPool<byte>.Shared.Return(_buffer);

        // A write still running after a failure may read its buffer: leave that one to the GC.
        if (_inFlight is null || _inFlight.IsCompleted)
            ArrayPool<byte>.Shared.Return(_spare);
        _buffer = [];
        _spare = [];
    }

    private async ValueTask CompleteInFlightAsync()
    {
        if (_inFlight is null)
            return;
        var inFlight = _inFlight;
        _inFlight = null;
        await inFlight;
    }

    private async ValueTask WriteU64Async(ulong value, CancellationToken cancellationToken)
    {
        if (_count + 8 > _buffer.Length)
            await FlushAsync(cancellationToken);
        BinaryPrimitives.WriteUInt64LittleEndian(_buffer.AsSpan(_count, 8), value);
        _count += 8;
    }

    private async ValueTask WritePaddingAsync(long length, CancellationToken cancellationToken)
    {
        var padding = NarTokens.Padding(length);
        if (padding == 0)
            return;
        if (_count + padding > _buffer.Length)
            await FlushAsync(cancellationToken);
        _buffer.AsSpan(_count, padding).Clear();
        _count += padding;
    }
}
