using System.Globalization;
using BuildFarm.Store.Streams;

namespace BuildFarm.Store.Quarantine;

/// <summary>
/// Reads the body of one upload (<c>&lt;length&gt;\n&lt;bytes&gt;</c> chunks up to <c>0\n</c>) from the serve stream
/// as a plain stream that ends at the terminator, leaving the underlying stream at the next upload's header.
/// </summary>
public sealed class ChunkedReadStream(Stream input) : ReadOnlyStream
{
    private long _left;
    private bool _done;

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        while (!_done && _left == 0)
        {
            var line = await QuarantineProtocol.ReadLineAsync(input, cancellationToken)
                ?? throw new QuarantineProtocolException("input ended before the upload's terminating '0' chunk");
            if (!int.TryParse(line, NumberStyles.None, CultureInfo.InvariantCulture, out var length) || length > QuarantineProtocol.MaxChunk)
                throw new QuarantineProtocolException($"'{line}' is not a chunk length (0 to {QuarantineProtocol.MaxChunk})");
            if (length == 0)
                _done = true;
            _left = length;
        }

        if (_done || buffer.Length == 0)
            return 0;
        var n = await input.ReadAsync(buffer[..(int)Math.Min(buffer.Length, _left)], cancellationToken);
        if (n == 0)
            throw new QuarantineProtocolException($"input ended inside a chunk ({_left} bytes missing)");
        _left -= n;
        return n;
    }

    public override void Flush() => throw new NotSupportedException();
}
