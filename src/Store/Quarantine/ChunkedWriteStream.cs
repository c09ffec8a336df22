using System.Globalization;
using System.Text;
using BuildFarm.Store.Streams;

namespace BuildFarm.Store.Quarantine;

/// <summary>
/// Writes one upload's body to the serve stream as <c>&lt;length&gt;\n&lt;bytes&gt;</c> chunks; <see cref="CompleteAsync"/>
/// writes the <c>0\n</c> terminator. The underlying stream stays open for the next upload.
/// </summary>
public sealed class ChunkedWriteStream(Stream output) : WriteOnlyStream
{
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

    /// <summary>Ends the body and flushes the underlying stream.</summary>
    public async Task CompleteAsync(CancellationToken cancellationToken)
    {
        await output.WriteAsync("0\n"u8.ToArray(), cancellationToken);
        await output.FlushAsync(cancellationToken);
    }

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
