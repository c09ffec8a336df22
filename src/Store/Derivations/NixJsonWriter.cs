using System.Buffers;
using System.Text;

namespace BuildFarm.Store.Derivations;

/// <summary>
/// Nix 2.8's own JSON writer (<c>libutil/json.cc</c>, used by <c>nix show-derivation</c>), byte for byte: strings are
/// written as their bytes (non-UTF-8 bytes raw, as Nix does), only <c>" \ \n \r \t</c> and other bytes below 0x20
/// (as <c>\u00xx</c>) are escaped; with indentation every member goes on its own line, two spaces per level, and
/// empty containers print as <c>{}</c> / <c>[]</c>.
/// </summary>
internal sealed class NixJsonWriter(bool indent)
{
    private readonly ArrayBufferWriter<byte> _out = new();
    private readonly Stack<bool> _first = new();

    public byte[] ToArray() => _out.WrittenSpan.ToArray();

    public void StartObject() => Open((byte)'{');

    public void EndObject() => Close((byte)'}');

    public void StartArray() => Open((byte)'[');

    public void EndArray() => Close((byte)']');

    public void StartObject(string name)
    {
        Name(name);
        StartObject();
    }

    public void StartArray(string name)
    {
        Name(name);
        StartArray();
    }

    public void String(string name, string value)
    {
        Name(name);
        Quote(value);
    }

    public void Bool(string name, bool value)
    {
        Name(name);
        Put(value ? "true"u8 : "false"u8);
    }

    public void StringValue(string value)
    {
        Comma();
        Quote(value);
    }

    private void Name(string name)
    {
        Comma();
        Quote(name);
        Put((byte)':');
        if (indent)
            Put((byte)' ');
    }

    private void Open(byte c)
    {
        Put(c);
        _first.Push(true);
    }

    private void Close(byte c)
    {
        var empty = _first.Pop();
        if (indent && !empty)
            Indent();
        Put(c);
    }

    private void Comma()
    {
        if (_first.Count == 0)
            return;
        if (_first.Peek())
        {
            _first.Pop();
            _first.Push(false);
        }
        else
        {
            Put((byte)',');
        }

        if (indent)
            Indent();
    }

    private void Indent()
    {
        Put((byte)'\n');
        for (var i = 0; i < _first.Count * 2; i++)
            Put((byte)' ');
    }

    private void Quote(string value)
    {
        const string hex = "0123456789abcdef";
        Put((byte)'"');
        foreach (var b in NixBytes.Encode(value))
        {
            switch (b)
            {
                case (byte)'"' or (byte)'\\':
                    Put((byte)'\\');
                    Put(b);
                    break;
                case (byte)'\n': Put("\\n"u8); break;
                case (byte)'\r': Put("\\r"u8); break;
                case (byte)'\t': Put("\\t"u8); break;
                case < 32:
                    Put("\\u00"u8);
                    Put((byte)hex[b >> 4]);
                    Put((byte)hex[b & 0xf]);
                    break;
                default:
                    Put(b);
                    break;
            }
        }

        Put((byte)'"');
    }

    public override string ToString() => Encoding.UTF8.GetString(_out.WrittenSpan);

    private void Put(byte b) => _out.Write([b]);

    private void Put(ReadOnlySpan<byte> bytes) => _out.Write(bytes);
}
