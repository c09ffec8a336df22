namespace BuildFarm.Cli.OriginServe;

/// <summary>
/// Splits a command line into words without a shell, accepting only what <c>ShellCommand.Quote</c> writes: bare
/// words of <c>A-Za-z0-9/._-+=:,@%</c>, single-quoted strings, and <c>\'</c> between them (how a quote inside an
/// argument is written), separated by single spaces. Every other character outside quotes (<c>; | &amp; $ `</c>,
/// double quotes, globs, redirections, tabs, newlines) makes the whole line invalid rather than being interpreted.
/// </summary>
internal static class ShellWords
{
    private const string BareCharacters = "/._-+=:,@%";

    public static bool TrySplit(string line, out List<string> words, out string? error)
    {
        words = [];
        error = null;
        var current = new System.Text.StringBuilder();
        var inWord = false;
        var i = 0;
        while (i < line.Length)
        {
            var c = line[i];
            if (c == ' ')
            {
                if (inWord)
                {
                    words.Add(current.ToString());
                    current.Clear();
                    inWord = false;
                }

                i++;
            }
            else if (c == '\'')
            {
                var end = line.IndexOf('\'', i + 1);
                if (end < 0)
                {
                    error = $"unterminated single quote at character {i + 1}";
                    return false;
                }

                current.Append(line, i + 1, end - i - 1);
                inWord = true;
                i = end + 1;
            }
            else if (c == '\\' && i + 1 < line.Length && line[i + 1] == '\'')
            {
                current.Append('\'');
                inWord = true;
                i += 2;
            }
            else if (char.IsAsciiLetterOrDigit(c) || BareCharacters.Contains(c, StringComparison.Ordinal))
            {
                current.Append(c);
                inWord = true;
                i++;
            }
            else
            {
                error = $"character {Describe(c)} at position {i + 1} is not allowed outside single quotes";
                return false;
            }
        }

        if (inWord)
            words.Add(current.ToString());
        return true;
    }

    private static string Describe(char c) =>
        c < ' ' || c == 127 ? $"U+{(int)c:X4}" : $"'{c}'";
}
