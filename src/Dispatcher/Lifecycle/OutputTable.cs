using System.Text.Json;
using BuildFarm.Contracts.Builds;
using BuildFarm.Messaging.Requests;
using Microsoft.Data.Sqlite;

namespace BuildFarm.Dispatcher.Lifecycle;

/// <summary>SQL over <c>outputs</c>: imported once, from the result that finished the build.</summary>
internal static class OutputTable
{
    private const string Columns = "o.name, o.path, o.nar_hash, o.nar_size, o.refs, o.signatures";

    public static async Task InsertAsync(DbSession s, Guid build, IEnumerable<BuiltOutput> outputs)
    {
        foreach (var o in outputs)
        {
            await s.ExecuteAsync(
                "INSERT INTO outputs (build_id, name, path, nar_hash, nar_size, refs, signatures) VALUES ($b, $n, $p, $h, $z, $r, $g)",
                ("$b", build.ToString()), ("$n", o.Name), ("$p", o.Path), ("$h", o.NarHash), ("$z", o.NarSize),
                ("$r", JsonSerializer.Serialize(o.References, MessagingJson.Options)), ("$g", JsonSerializer.Serialize(o.Signatures, MessagingJson.Options)));
        }
    }

    public static Task<List<OutputRecord>> ListAsync(DbSession s, Guid build) =>
        s.QueryAsync($"SELECT {Columns} FROM outputs o WHERE o.build_id = $b ORDER BY o.name", Read, ("$b", build.ToString()));

    /// <summary>
    /// An output of the worker's most recently finished successful build (null before its first): the worker's builds
    /// (builds_worker), not every succeeded build (<c>+</c> keeps SQLite off the state's index).
    /// </summary>
    public static async Task<OutputRecord?> LatestOfWorkerAsync(DbSession s, string worker) => (await s.QueryAsync(
        $"""
        SELECT {Columns} FROM outputs o JOIN builds b ON b.id = o.build_id
        WHERE b.worker = $w AND +b.state = 'succeeded' ORDER BY b.finished_at DESC LIMIT 1
        """,
        Read, ("$w", worker))).SingleOrDefault();

    /// <summary>A succeeded build's output paths (space separated), with its finish time and row: its place in <see cref="SucceededAfterAsync"/>.</summary>
    public sealed record SucceededPaths(long FinishedAt, long Row, string? Paths);

    /// <summary>
    /// Up to <paramref name="limit"/> builds that succeeded after (<paramref name="finishedAt"/>, <paramref name="afterRow"/>)
    /// in the order (finish time in Unix ms, row), each with its output paths; a finished build never changes its finish time.
    /// </summary>
    public static Task<List<SucceededPaths>> SucceededAfterAsync(DbSession s, long finishedAt, long afterRow, int limit) => s.QueryAsync(
        // The finish-time index, not the state's (every succeeded build): `+` keeps SQLite off the latter.
        """
        SELECT b.finished_at, b.rowid, (SELECT group_concat(o.path, ' ') FROM outputs o WHERE o.build_id = b.id) FROM builds b
        WHERE b.finished_at >= $f AND (b.finished_at > $f OR b.rowid > $r) AND +b.state = 'succeeded' ORDER BY b.finished_at, b.rowid LIMIT $n
        """,
        r => new SucceededPaths(r.GetInt64(0), r.GetInt64(1), r.IsDBNull(2) ? null : r.GetString(2)),
        ("$f", finishedAt), ("$r", afterRow), ("$n", limit));

    private static OutputRecord Read(SqliteDataReader r) => new(r.GetString(0), r.GetString(1), r.GetString(2), r.GetInt64(3),
        JsonSerializer.Deserialize<string[]>(r.GetString(4), MessagingJson.Options)!, JsonSerializer.Deserialize<string[]>(r.GetString(5), MessagingJson.Options)!);
}
