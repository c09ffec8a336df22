using System.Globalization;
using System.Text;

namespace BuildFarm.Store.Quarantine;

/// <summary>
/// The framing of <c>buildfarm store quarantine-serve</c>: one long-lived remote process receives any number of
/// uploads, so returning a build's outputs costs no SSH exec, login shell or process start per build.
/// </summary>
/// <remarks>
/// Worker → origin, per upload: <c>put &lt;build-guid&gt; &lt;attempt&gt;\n</c>, then chunks <c>&lt;length&gt;\n&lt;bytes&gt;</c>
/// (decimal length, 1 to <see cref="MaxChunk"/>), then <c>0\n</c>. Origin → worker: <c>ok &lt;bytes&gt;\n</c> once the
/// quarantine file is complete and fsynced (the same guarantee as quarantine-put's exit 0), or
/// <c>error &lt;message&gt;\n</c>, after which the origin exits: the stream may be out of step, the worker starts anew.
/// End of input between uploads ends the process with exit 0.
/// </remarks>
public static class QuarantineProtocol
{
    /// <summary>Largest chunk a reader accepts (and a writer sends).</summary>
    public const int MaxChunk = 1 << 20;

    private const int MaxLine = 128;

    public static byte[] PutLine(Guid buildId, int attempt) =>
        Encoding.ASCII.GetBytes(string.Create(CultureInfo.InvariantCulture, $"put {buildId:D} {attempt}\n"));

    public static byte[] OkLine(long bytes) => Encoding.ASCII.GetBytes(string.Create(CultureInfo.InvariantCulture, $"ok {bytes}\n"));

    /// <summary>An error reply: one line, whatever the message holds.</summary>
    public static byte[] ErrorLine(string message) =>
        Encoding.UTF8.GetBytes("error " + message.ReplaceLineEndings(" ") + "\n");

    /// <summary>
    /// Reads one ASCII line (without its <c>\n</c>) of at most <see cref="MaxLine"/> bytes; null at end of input
    /// before any byte. A line cut by end of input or too long is a <see cref="QuarantineProtocolException"/>.
    /// </summary>
    public static async Task<string?> ReadLineAsync(Stream input, CancellationToken cancellationToken)
    {
        var line = new StringBuilder();
        var one = new byte[1];
        while (true)
        {
            if (await input.ReadAsync(one, cancellationToken) == 0)
                return line.Length == 0 ? null : throw new QuarantineProtocolException($"input ended inside the line '{line}'");
            if (one[0] == (byte)'\n')
                return line.ToString();
            if (line.Length >= MaxLine)
                throw new QuarantineProtocolException($"line longer than {MaxLine} bytes: '{line}…'");
            line.Append((char)one[0]);
        }
    }

    /// <summary>Parses <c>put GUID N</c>.</summary>
    public static (Guid BuildId, int Attempt) ParsePut(string line)
    {
        var parts = line.Split(' ');
        if (parts.Length != 3 || parts[0] != "put")
            throw new QuarantineProtocolException($"expected 'put <build-guid> <attempt>', got '{line}'");
        if (!Guid.TryParseExact(parts[1], "D", out var id))
            throw new QuarantineProtocolException($"'{parts[1]}' is not a build id (a GUID)");
        if (!int.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out var attempt) || attempt < 1)
            throw new QuarantineProtocolException($"'{parts[2]}' is not an attempt number (1 or more)");
        return (id, attempt);
    }

    /// <summary>Parses a reply: the byte count of <c>ok N</c>, or the message of <c>error …</c> as an exception.</summary>
    public static long ParseReply(string line)
    {
        if (line.StartsWith("ok ", StringComparison.Ordinal)
            && long.TryParse(line.AsSpan(3), NumberStyles.None, CultureInfo.InvariantCulture, out var bytes))
            return bytes;
        if (line.StartsWith("error ", StringComparison.Ordinal))
            throw new QuarantineRefusedException(line[6..]);
        throw new QuarantineProtocolException($"expected 'ok <bytes>' or 'error <message>', got '{line}'");
    }
}
