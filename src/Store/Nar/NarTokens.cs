using System.Buffers.Binary;
using System.Text;

namespace BuildFarm.Store.Nar;

/// <summary>
/// The fixed words of the NAR grammar, pre-encoded as <c>str(s)</c>: u64 little-endian length, bytes, zero padding
/// to a multiple of 8.
/// </summary>
internal static class NarTokens
{
    public const string Magic = "nix-archive-1";

    /// <summary>Longest non-content string we accept (symlink targets: PATH_MAX minus the NUL).</summary>
    public const int MaxTokenLength = 4095;

    /// <summary>Longest entry name (NAME_MAX on Linux).</summary>
    public const int MaxNameLength = 255;

    public static readonly byte[] MagicBytes = Encode(Magic);
    public static readonly byte[] Open = Encode("(");
    public static readonly byte[] Close = Encode(")");
    public static readonly byte[] Type = Encode("type");
    public static readonly byte[] Regular = Encode("regular");
    public static readonly byte[] Executable = Encode("executable");
    public static readonly byte[] Empty = Encode("");
    public static readonly byte[] Contents = Encode("contents");
    public static readonly byte[] Symlink = Encode("symlink");
    public static readonly byte[] Target = Encode("target");
    public static readonly byte[] Directory = Encode("directory");
    public static readonly byte[] Entry = Encode("entry");
    public static readonly byte[] Name = Encode("name");
    public static readonly byte[] Node = Encode("node");

    /// <summary>Zero bytes needed after <paramref name="length"/> bytes to reach a multiple of 8.</summary>
    public static int Padding(long length) => (int)((8 - (length & 7)) & 7);

    /// <summary>The bytes of a token without its length and padding, for comparisons while reading.</summary>
    public static ReadOnlySpan<byte> Body(byte[] encoded) => encoded.AsSpan(8, (int)BinaryPrimitives.ReadUInt64LittleEndian(encoded));

    private static byte[] Encode(string token)
    {
        var body = Encoding.ASCII.GetBytes(token);
        var result = new byte[8 + body.Length + Padding(body.Length)];
        BinaryPrimitives.WriteUInt64LittleEndian(result, (ulong)body.Length);
        body.CopyTo(result, 8);
        return result;
    }
}
