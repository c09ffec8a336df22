using System.Buffers.Binary;
using System.Text;

namespace BuildFarm.Hook.Wire;

/// <summary>
/// Reads Nix's wire framing as the daemon writes it to its build hook: u64 little-endian integers; strings as a u64
/// length, the bytes and zero padding to a multiple of 8; string lists as a u64 count and the strings.
/// End of stream in the middle of a value is an <see cref="EndOfStreamException"/> naming what was being read.
/// </summary>
public sealed class NixWireReader(Stream stream)
{
    /// <summary>Longest string accepted (a setting value or a store path); the daemon's are far shorter.</summary>
    public const int MaxString = 16 * 1024 * 1024;

    private readonly byte[] _word = new byte[8];

    /// <summary>Reads a u64, or null when the stream ends cleanly before its first byte.</summary>
    public async Task<ulong?> TryReadU64Async(CancellationToken cancellationToken)
    {
        var n = await FillAsync(_word, cancellationToken);
        if (n == 0)
            return null;
        if (n < 8)
            throw new EndOfStreamException($"the daemon closed the hook's stdin inside an integer ({n} of 8 bytes)");
        return BinaryPrimitives.ReadUInt64LittleEndian(_word);
    }

    public async Task<ulong> ReadU64Async(string what, CancellationToken cancellationToken) =>
        await TryReadU64Async(cancellationToken) ?? throw new EndOfStreamException($"the daemon closed the hook's stdin before {what}");

    public async Task<string> ReadStringAsync(string what, CancellationToken cancellationToken) =>
        await ReadStringBodyAsync(await ReadU64Async(what, cancellationToken), what, cancellationToken);

    /// <summary>The bytes and padding of a string whose length word was already read.</summary>
    public async Task<string> ReadStringBodyAsync(ulong length, string what, CancellationToken cancellationToken)
    {
        if (length > MaxString)
            throw new InvalidDataException($"{what}: string of {length} bytes is longer than {MaxString}");
        var padded = (int)((length + 7) & ~7UL);
        var buffer = new byte[padded];
        if (await FillAsync(buffer, cancellationToken) < padded)
            throw new EndOfStreamException($"the daemon closed the hook's stdin inside {what}");
        for (var i = (int)length; i < padded; i++)
        {
            if (buffer[i] != 0)
                throw new InvalidDataException($"{what}: non-zero padding byte");
        }

        return Encoding.UTF8.GetString(buffer, 0, (int)length);
    }

    public async Task<IReadOnlyList<string>> ReadStringListAsync(string what, CancellationToken cancellationToken)
    {
        var count = await ReadU64Async(what, cancellationToken);
        if (count > 1_000_000)
            throw new InvalidDataException($"{what}: list of {count} strings is not plausible");
        var list = new List<string>((int)count);
        for (ulong i = 0; i < count; i++)
            list.Add(await ReadStringAsync(what, cancellationToken));
        return list;
    }

    private async Task<int> FillAsync(byte[] buffer, CancellationToken cancellationToken)
    {
        var read = 0;
        while (read < buffer.Length)
        {
            var n = await stream.ReadAsync(buffer.AsMemory(read), cancellationToken);
            if (n == 0)
                break;
            read += n;
        }

        return read;
    }
}
