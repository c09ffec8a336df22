using System.Buffers.Binary;
using System.Text;

namespace BuildFarm.Store.Archives;

/// <summary>Nix's wire encoding: u64 little-endian; strings as length, bytes, zero padding to 8.</summary>
internal static class WireWriter
{
    public static async Task WriteU64Async(Stream output, ulong value, CancellationToken cancellationToken)
    {
        var buffer = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(buffer, value);
        await output.WriteAsync(buffer, cancellationToken);
    }

    public static async Task WriteStringAsync(Stream output, string value, CancellationToken cancellationToken)
    {
        var bytes = Encoding.UTF8.GetBytes(value);
        var padded = new byte[8 + ((bytes.Length + 7) & ~7)];
        BinaryPrimitives.WriteUInt64LittleEndian(padded, (ulong)bytes.Length);
        bytes.CopyTo(padded, 8);
        await output.WriteAsync(padded, cancellationToken);
    }

    public static async Task WriteStringsAsync(Stream output, IReadOnlyCollection<string> values, CancellationToken cancellationToken)
    {
        await WriteU64Async(output, (ulong)values.Count, cancellationToken);
        foreach (var value in values)
            await WriteStringAsync(output, value, cancellationToken);
    }
}
