using System.Buffers.Binary;
using System.Text;

namespace BuildFarm.Hook.Wire;

/// <summary>Writes Nix's wire framing (the daemon's side; tests play the daemon with it).</summary>
public sealed class NixWireWriter(Stream stream)
{
    public NixWireWriter U64(ulong value)
    {
        Span<byte> word = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(word, value);
        stream.Write(word);
        return this;
    }

    public NixWireWriter Text(string value)
    {
        var bytes = Encoding.UTF8.GetBytes(value);
        U64((ulong)bytes.Length);
        stream.Write(bytes);
        stream.Write(new byte[(8 - bytes.Length % 8) % 8]);
        return this;
    }

    public NixWireWriter Strings(IReadOnlyCollection<string> values)
    {
        U64((ulong)values.Count);
        foreach (var v in values)
            Text(v);
        return this;
    }
}
