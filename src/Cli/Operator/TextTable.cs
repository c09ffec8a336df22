using System.Globalization;

namespace BuildFarm.Cli.Operator;

/// <summary>Left-aligned columns separated by two spaces, for terminal output.</summary>
internal static class TextTable
{
    public static async Task WriteAsync(TextWriter output, string[] header, IEnumerable<string[]> rows)
    {
        var all = new[] { header }.Concat(rows).ToArray();
        var widths = Enumerable.Range(0, header.Length).Select(i => all.Max(r => r[i].Length)).ToArray();
        foreach (var row in all)
            await output.WriteLineAsync(string.Join("  ", row.Select((cell, i) => i == row.Length - 1 ? cell : cell.PadRight(widths[i]))).TrimEnd());
    }

    public static string Ago(DateTimeOffset then, DateTimeOffset now)
    {
        var t = now - then;
        if (t < TimeSpan.Zero)
            t = TimeSpan.Zero;
        return t.TotalSeconds < 90 ? Invariant($"{t.TotalSeconds:0} s ago")
            : t.TotalMinutes < 90 ? Invariant($"{t.TotalMinutes:0} min ago")
            : t.TotalHours < 48 ? Invariant($"{t.TotalHours:0.#} h ago")
            : Invariant($"{t.TotalDays:0.#} d ago");
    }

    public static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

    public static string List(IReadOnlyList<string> items) => items.Count == 0 ? "-" : string.Join(",", items);
}
