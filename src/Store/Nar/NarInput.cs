using System.Buffers.Binary;

namespace BuildFarm.Store.Nar;

/// <summary>
/// Reads NAR primitives with exact-count reads, so nothing past the NAR's last token is consumed from the stream;
/// tracks the byte offset and the current entry for error messages.
/// </summary>
internal sealed class NarInput(Stream input)
{
    private readonly byte[] _small = new byte[8 + NarTokens.MaxTokenLength + 8];

    /// <summary>Bytes consumed from the start of the NAR.</summary>
    public long Offset { get; private set; }

    /// <summary>The entry being read, "/" for the root.</summary>
    public string EntryPath { get; set; } = "/";

    public NarFormatException Error(string problem, long? offset = null) => new(problem, offset ?? Offset, EntryPath);

    /// <summary>Reads <c>str(s)</c> of at most <paramref name="maxLength"/> bytes; the result is valid until the next read.</summary>
    public async ValueTask<ReadOnlyMemory<byte>> ReadStringAsync(int maxLength, string what, CancellationToken cancellationToken)
    {
        var start = Offset;
        var length = await ReadU64Async(what, cancellationToken);
        if (length > (ulong)maxLength)
            throw Error($"{what} is {length} bytes long, more than the {maxLength} allowed", start);
        var padded = (int)length + NarTokens.Padding((long)length);
        var memory = _small.AsMemory(8, padded);
        await ReadExactAsync(memory, what, cancellationToken);
        CheckPadding(memory.Span[(int)length..], start);
        return memory[..(int)length];
    }

    /// <summary>Reads a word of the grammar and checks it is <paramref name="expected"/>.</summary>
    public async ValueTask ExpectAsync(byte[] expected, CancellationToken cancellationToken)
    {
        var start = Offset;
        var token = await ReadStringAsync(NarTokens.MaxTokenLength, $"token '{Show(expected)}'", cancellationToken);
        if (!token.Span.SequenceEqual(NarTokens.Body(expected)))
            throw Error($"expected '{Show(expected)}' but found '{NarNames.Show(token.Span)}'", start);
    }

    public async ValueTask<ulong> ReadU64Async(string what, CancellationToken cancellationToken)
    {
        var memory = _small.AsMemory(0, 8);
        await ReadExactAsync(memory, what, cancellationToken);
        return BinaryPrimitives.ReadUInt64LittleEndian(memory.Span);
    }

    /// <summary>Fills <paramref name="buffer"/> or fails with "truncated".</summary>
    public async ValueTask ReadExactAsync(Memory<byte> buffer, string what, CancellationToken cancellationToken)
    {
        var n = await input.ReadAtLeastAsync(buffer, buffer.Length, throwOnEndOfStream: false, cancellationToken);
        Offset += n;
        if (n < buffer.Length)
            throw Error($"truncated: the input ended while reading {what} ({buffer.Length - n} more bytes expected)");
    }

    /// <summary>Reads and checks the zero padding of <paramref name="length"/> (0–7) bytes after file contents.</summary>
    public async ValueTask ReadPaddingAsync(int length, string what, CancellationToken cancellationToken)
    {
        var start = Offset;
        var memory = _small.AsMemory(0, length);
        await ReadExactAsync(memory, what, cancellationToken);
        CheckPadding(memory.Span, start);
    }

    public void CheckPadding(ReadOnlySpan<byte> padding, long tokenStart)
    {
        if (padding.ContainsAnyExcept((byte)0))
            throw Error("non-zero padding after a string", tokenStart);
    }

    /// <summary>True when the underlying stream has no more bytes (consumes one byte if it does).</summary>
    public async ValueTask<bool> AtEndAsync(CancellationToken cancellationToken) =>
        await input.ReadAsync(_small.AsMemory(0, 1), cancellationToken) == 0;

    private static string Show(byte[] encoded) => NarNames.Show(NarTokens.Body(encoded));
}
