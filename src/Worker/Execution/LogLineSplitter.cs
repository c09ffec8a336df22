using System.Text;

namespace BuildFarm.Worker.Execution;

/// <summary>Turns the runner's byte chunks (UTF-8, split anywhere) into lines for an <see cref="IBuildLog"/>.</summary>
internal sealed class LogLineSplitter(IBuildLog log)
{
    private readonly Decoder _decoder = new UTF8Encoding(false, false).GetDecoder();
    private readonly StringBuilder _line = new();
    private char[] _chars = new char[4096];

    public void Write(ReadOnlySpan<byte> chunk)
    {
        var needed = _decoder.GetCharCount(chunk, flush: false);
        if (needed > _chars.Length)
            _chars = new char[needed];
        var n = _decoder.GetChars(chunk, _chars, flush: false);
        foreach (var c in _chars.AsSpan(0, n))
        {
            if (c == '\n')
            {
                log.Line(_line.ToString().TrimEnd('\r'));
                _line.Clear();
            }
            else
            {
                _line.Append(c);
            }
        }
    }

    /// <summary>Emits an unterminated last line.</summary>
    public void Flush()
    {
        if (_line.Length > 0)
            log.Line(_line.ToString());
        _line.Clear();
    }
}
