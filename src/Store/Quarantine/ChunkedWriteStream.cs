using System.Globalization;
using System.Text;

namespace BuildFarm.Store.Quarantine;

/// <summary>
/// Writes one upload's body to the serve stream as <c>&lt;length&gt;\n&lt;bytes&gt;</c> chunks; <see cref="CompleteAsync"/>
/// writes the <c>0\n</c> terminator. The underlying stream stays open for the next upload.
/// </summary>
public sealed class ChunkedWriteStream(Stream output) : Stream
{
    public override bool CanRead => false;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        while (buffer.Length > 0)
        {
            var chunk = buffer[..Math.Min(buffer.Length, QuarantineProtocol.MaxChunk)];
            await output.WriteAsync(Encoding.ASCII.GetBytes(chunk.Length.ToString(CultureInfo.InvariantCulture) + "\n"), cancellationToken);
            await output.WriteAsync(chunk, cancellationToken);
            buffer = buffer[chunk.Length..];
        }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer, offset, count, CancellationToken.None).GetAwaiter().GetResult();

    /// <summary>Ends the body and flushes the underlying stream.</summary>
    public async Task CompleteAsync(CancellationToken cancellationToken)
    {
        await output.WriteAsync("0\n"u8.ToArray(), cancellationToken);
        await output.FlushAsync(cancellationToken);
    }

    public override void Flush()
    {
    }

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();
}
