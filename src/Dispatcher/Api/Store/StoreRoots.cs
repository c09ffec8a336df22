using System.Buffers.Text;
using System.Globalization;
using System.Text;
using BuildFarm.Dispatcher.Graphs;
using BuildFarm.Dispatcher.Lifecycle;

namespace BuildFarm.Dispatcher.Api;

/// <summary>
/// Where a walk of the store roots stands: the last open build's row, the last running graph's row and node, the last
/// succeeded build's (finish time, row), and the start of the recent window. Every source is read in an order in which
/// a row never moves backwards, so a root that exists from the first page to the last is on some page:
/// <list type="bullet">
/// <item>builds by row: a build keeps its row for life; queued ↔ running keeps it open; a finished build never reopens;</item>
/// <item>running graphs by row, then node: a graph's nodes are fixed when it is created;</item>
/// <item>succeeded builds by (finish time, row): a finished build never changes its finish time.</item>
/// </list>
/// A build or graph stored after a page gets a higher row than any that page saw: rows are handed out by the one writer
/// connection in commit order (max + 1), and retention never deletes the newest build or graph, so no row number is
/// handed out twice (<see cref="RetentionTable"/>). So the last page's cursor, asked again later, returns the builds and
/// graphs that appeared since: `buildfarm store gc` asks it while it deletes.
/// </summary>
internal sealed record StoreRootsCursor(long Build, long Graph, string? Node, long FinishedAt, long Output, long Since)
{
    /// <summary>The start of a walk whose recent window starts at <paramref name="since"/> (Unix ms).</summary>
    public static StoreRootsCursor Start(long since) => new(0, 0, null, since, 0, since);

    /// <summary>Opaque to clients: digits, dots and base64url (safe in a query string).</summary>
    public override string ToString()
    {
        var text = string.Create(CultureInfo.InvariantCulture, $"1.{Build}.{Graph}.{FinishedAt}.{Output}.{Since}");
        return Node is null ? text : text + "." + Base64Url.EncodeToString(Encoding.UTF8.GetBytes(Node));
    }

    public static bool TryParse(string text, out StoreRootsCursor? cursor)
    {
        cursor = null;
        var parts = text.Split('.');
        if (parts.Length is not (6 or 7) || parts[0] != "1")
            return false;
        var numbers = new long[5];
        for (var i = 0; i < 5; i++)
        {
            if (!long.TryParse(parts[i + 1], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out numbers[i]))
                return false;
        }

        string? node = null;
        if (parts.Length == 7)
        {
            try
            {
                node = Encoding.UTF8.GetString(Base64Url.DecodeFromChars(parts[6]));
            }
            catch (FormatException)
            {
                return false;
            }
        }

        cursor = new StoreRootsCursor(numbers[0], numbers[1], node, numbers[2], numbers[3], numbers[4]);
        return true;
    }
}

/// <summary>One page of store roots (<see cref="StoreRootsCursor"/>): what it holds, where the next starts, whether more follows.</summary>
internal sealed record StoreRootsPage(List<string> Live, List<string> Recent, StoreRootsCursor Next, bool More);

/// <summary>Reads the store roots page by page, in one read transaction per page (docs/api.md, GET /api/store/roots).</summary>
internal static class StoreRoots
{
    /// <summary>
    /// The roots after <paramref name="from"/>: open builds, then running graphs, then recent outputs, at most
    /// <paramref name="limit"/> paths (a single build whose closure is larger gets a page of its own; null: no limit).
    /// A page never splits a build or a node, so the cursor is always between two rows.
    /// </summary>
    public static async Task<StoreRootsPage> ReadAsync(DbSession s, StoreRootsCursor from, int? limit)
    {
        var budget = limit ?? int.MaxValue;
        var live = new List<string>();
        var recent = new List<string>();
        var at = from;
        int Room() => budget - live.Count - recent.Count;

        // Each source is read for as many rows as there is room for paths (a row holds at least one); false when the
        // page filled before the source ran out.
        bool Take<T>(List<T> rows, int asked, Func<T, IEnumerable<string>> paths, Func<T, StoreRootsCursor> after, List<string> into)
        {
            foreach (var row in rows)
            {
                var those = paths(row).ToList();
                if (live.Count + recent.Count > 0 && those.Count > Room())
                    return false;
                into.AddRange(those);
                at = after(row);
            }

            return rows.Count < asked;
        }

        var asked = Room();
        var done = Take(await BuildInputTable.OpenPathsAfterAsync(s, at.Build, asked), asked,
            b => Split(b.Closure).Prepend(b.DrvPath), b => at with { Build = b.Row }, live);
        if (done && (asked = Room()) > 0)
        {
            done = Take(await GraphTable.LiveNodesAfterAsync(s, at.Graph, at.Node, asked), asked,
                n => Split(n.Outputs).Prepend(n.DrvPath), n => at with { Graph = n.GraphRow, Node = n.DrvPath }, live);
            // A graph read to its end is passed whole: the next read starts at the next graph, not inside this one.
            if (done)
                at = at with { Node = null };
        }

        if (done && (asked = Room()) > 0)
        {
            done = Take(await OutputTable.SucceededAfterAsync(s, at.FinishedAt, at.Output, asked), asked,
                o => Split(o.Paths), o => at with { FinishedAt = o.FinishedAt, Output = o.Row }, recent);
        }

        return new StoreRootsPage(live, recent, at, !done || Room() <= 0);
    }

    private static string[] Split(string? paths) => paths?.Split(' ', StringSplitOptions.RemoveEmptyEntries) ?? [];
}
