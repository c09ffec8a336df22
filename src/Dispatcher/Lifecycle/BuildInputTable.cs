using System.Text.Json;
using BuildFarm.Contracts.Builds;
using BuildFarm.Messaging.Requests;

namespace BuildFarm.Dispatcher.Lifecycle;

/// <summary>
/// SQL over <c>build_inputs</c>: the origin and input closure fixed when a build was submitted, so every attempt
/// (and a republish after a restart) carries the same ones. A build without a row has no origin.
/// </summary>
internal static class BuildInputTable
{
    public static Task InsertAsync(DbSession s, Guid build, OriginEndpoint origin, IReadOnlyList<InputPath> closure) => s.ExecuteAsync(
        "INSERT INTO build_inputs (build_id, origin, closure) VALUES ($b, $o, $c)",
        ("$b", build.ToString()), ("$o", JsonSerializer.Serialize(origin, MessagingJson.Options)),
        ("$c", JsonSerializer.Serialize(closure, MessagingJson.Options)));

    public static async Task<(OriginEndpoint? Origin, IReadOnlyList<InputPath> Closure)> GetAsync(DbSession s, Guid build)
    {
        var rows = await s.QueryAsync(
            "SELECT origin, closure FROM build_inputs WHERE build_id = $b",
            r => (JsonSerializer.Deserialize<OriginEndpoint>(r.GetString(0), MessagingJson.Options),
                (IReadOnlyList<InputPath>)JsonSerializer.Deserialize<InputPath[]>(r.GetString(1), MessagingJson.Options)!),
            ("$b", build.ToString()));
        return rows.Count == 0 ? (null, []) : rows[0];
    }

    public static async Task<bool> HasOriginAsync(DbSession s, Guid build) =>
        await s.ScalarAsync("SELECT 1 FROM build_inputs WHERE build_id = $b", ("$b", build.ToString())) is not null;

    /// <summary>A queued or running build's store roots: its derivation and its input closure's paths (space separated).</summary>
    public sealed record OpenBuildPaths(long Row, string DrvPath, string? Closure);

    /// <summary>
    /// Up to <paramref name="limit"/> queued and running builds after row <paramref name="afterRow"/>, by row (a build
    /// keeps its row for life, and a new one gets a higher row: see <c>StoreRoots</c>), each with what it needs in the
    /// origin store. The closure's paths come out of their JSON in SQLite.
    /// </summary>
    /// <remarks>
    /// The rows are chosen first on the open builds' index alone (a covering read and a bounded sort of row numbers),
    /// and only the chosen builds are read: sorting the joined rows would read every open build for one page.
    /// </remarks>
    public static async Task<List<OpenBuildPaths>> OpenPathsAfterAsync(DbSession s, long afterRow, int limit) =>
        [.. (await s.QueryAsync(
            """
            SELECT k.r, b.drv_path, (SELECT group_concat(j.value ->> 'path', ' ') FROM json_each(i.closure) j)
            FROM (SELECT rowid AS r FROM builds INDEXED BY builds_state_open WHERE state IN ('queued', 'running') AND rowid > $after ORDER BY rowid LIMIT $n) k
            JOIN builds b ON b.rowid = k.r LEFT JOIN build_inputs i ON i.build_id = b.id
            """,
            r => new OpenBuildPaths(r.GetInt64(0), r.GetString(1), r.IsDBNull(2) ? null : r.GetString(2)),
            ("$after", afterRow), ("$n", limit))).OrderBy(b => b.Row)];
}
