using System.Globalization;
using System.Text;

namespace BuildFarm.Cli;

/// <summary>
/// Makes text safe to echo to a terminal: error messages quote paths, names and server answers that a hostile archive,
/// derivation or dispatcher chose, and a raw ESC in them would drive the user's terminal (move the cursor, rewrite
/// earlier lines, set the title). Control characters other than newline and tab are shown as <c>\xNN</c>.
/// </summary>
internal static class TerminalText
{
    public static string Escape(string text)
    {
        if (!text.Any(IsUnsafe))
            return text;
        var escaped = new StringBuilder(text.Length + 16);
        foreach (var c in text)
        {
            if (IsUnsafe(c))
                escaped.Append("\\x").Append(((int)c).ToString(c <= 0xFF ? "x2" : "x4", CultureInfo.InvariantCulture));
            else
                escaped.Append(c);
        }

        return escaped.ToString();
    }

    private static bool IsUnsafe(char c) =>
        c is not ('\n' or '\t') && (char.IsControl(c) || c is '\u2028' or '\u2029' or '\u202E' or '\u2066' or '\u2067' or '\u2068' or '\u2069' or '\u202A' or '\u202B' or '\u202C' or '\u202D');
}
