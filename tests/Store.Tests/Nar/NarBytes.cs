using System.Buffers.Binary;
using System.Text;

namespace BuildFarm.Store.Tests.Nar;

/// <summary>Hand-assembles NAR byte streams, including broken ones.</summary>
internal sealed class NarBytes
{
    private readonly List<byte> _bytes = [];

    public static NarBytes Start() => new NarBytes().Str("nix-archive-1");

    /// <summary>Each argument is one <c>str(…)</c>.</summary>
    public NarBytes Str(params string[] tokens)
    {
        foreach (var t in tokens)
            Raw(Encoding.UTF8.GetBytes(t));
        return this;
    }

    public NarBytes Raw(byte[] body, byte paddingByte = 0)
    {
        U64((ulong)body.Length);
        _bytes.AddRange(body);
        for (var i = body.Length; i % 8 != 0; i++)
            _bytes.Add(paddingByte);
        return this;
    }

    public NarBytes U64(ulong value)
    {
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(b, value);
        _bytes.AddRange(b);
        return this;
    }

    public NarBytes Entry(string name, Action<NarBytes> node)
    {
        Str("entry", "(", "name", name, "node");
        node(this);
        return Str(")");
    }

    public NarBytes File(string contents, bool executable = false) =>
        executable ? Str("(", "type", "regular", "executable", "", "contents", contents, ")") : Str("(", "type", "regular", "contents", contents, ")");

    public NarBytes Dir(params (string Name, string Contents)[] files)
    {
        Str("(", "type", "directory");
        foreach (var (name, contents) in files)
            Entry(name, n => n.File(contents));
        return Str(")");
    }

    public byte[] ToArray() => _bytes.ToArray();
}
