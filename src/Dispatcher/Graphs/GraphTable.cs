using System.Text.Json;
using BuildFarm.Dispatcher.Lifecycle;
using BuildFarm.Messaging.Requests;
using Microsoft.Data.Sqlite;

namespace BuildFarm.Dispatcher.Graphs;

/// <summary>SQL over <c>graphs</c> and <c>graph_nodes</c> (created with the lifecycle schema).</summary>
internal static class GraphTable
{
    private const string GraphColumns = "id, targets, keep_going, priority, timeout_ms, max_silent_ms, wait_for_capacity, state, created_at, finished_at, trusted";
    private const string NodeColumns = "graph_id, drv_path, deps, wanted_outputs, output_paths, is_target, state, build_id, reason";

    public static async Task InsertAsync(DbSession s, GraphRecord g, IEnumerable<GraphNodeRecord> nodes)
    {
        await s.ExecuteAsync(
            $"INSERT INTO graphs ({GraphColumns}) VALUES ($id, $t, $k, $p, $to, $ms, $wait, $st, $at, NULL, $trusted)",
            ("$id", g.Id.ToString()), ("$t", Json(g.Targets)), ("$k", g.KeepGoing ? 1 : 0), ("$p", g.Priority),
            ("$to", (long)g.Timeout.TotalMilliseconds), ("$ms", (long)g.MaxSilentTime.TotalMilliseconds), ("$wait", g.WaitForCapacity ? 1 : 0), ("$st", g.State),
            ("$at", BuildTable.Ms(g.CreatedAt)), ("$trusted", g.Trusted ? 1 : 0));
        var position = 0;
        foreach (var n in nodes)
        {
            await s.ExecuteAsync(
                $"INSERT INTO graph_nodes ({NodeColumns}, position) VALUES ($g, $d, $deps, $w, $o, $t, $st, $b, $r, $pos)",
                ("$g", n.GraphId.ToString()), ("$d", n.DrvPath), ("$deps", Json(n.Dependencies)), ("$w", Json(n.WantedOutputs)),
                ("$o", Json(n.OutputPaths)), ("$t", n.IsTarget ? 1 : 0), ("$st", n.State), ("$b", n.BuildId?.ToString()), ("$r", n.Reason),
                ("$pos", position++));
        }
    }

    public static async Task<GraphRecord?> GetAsync(DbSession s, Guid id) =>
        (await s.QueryAsync($"SELECT {GraphColumns} FROM graphs WHERE id = $id", ReadGraph, ("$id", id.ToString()))).SingleOrDefault();

    public static Task<List<GraphRecord>> ListAsync(DbSession s, string state) =>
        s.QueryAsync($"SELECT {GraphColumns} FROM graphs WHERE state = $st ORDER BY created_at", ReadGraph, ("$st", state));

    public static Task<List<GraphRecord>> RecentAsync(DbSession s, int limit) =>
        s.QueryAsync($"SELECT {GraphColumns} FROM graphs ORDER BY created_at DESC LIMIT $n", ReadGraph, ("$n", limit));

    public static Task<List<GraphNodeRecord>> NodesAsync(DbSession s, Guid graph) =>
        s.QueryAsync($"SELECT {NodeColumns} FROM graph_nodes WHERE graph_id = $g ORDER BY position", ReadNode, ("$g", graph.ToString()));

    /// <summary>A node's state and, when it has a build, that build's state (null when the build row is missing).</summary>
    public sealed record NodeState(string DrvPath, string State, Guid? BuildId, string? BuildState, string? FailureReason);

    /// <summary>Every node's state with its build's, in one query (no JSON): what a graph's tick reads each time.</summary>
    public static Task<List<NodeState>> NodeStatesAsync(DbSession s, Guid graph) => s.QueryAsync(
        """
        SELECT n.drv_path, n.state, n.build_id, b.state, b.failure_reason
        FROM graph_nodes n LEFT JOIN builds b ON b.id = n.build_id
        WHERE n.graph_id = $g ORDER BY n.position
        """,
        r => new NodeState(r.GetString(0), r.GetString(1), r.IsDBNull(2) ? null : Guid.Parse(r.GetString(2)),
            r.IsDBNull(3) ? null : r.GetString(3), r.IsDBNull(4) ? null : r.GetString(4)),
        ("$g", graph.ToString()));

    /// <summary>Each node's input derivations, in graph order: fixed when the graph is created, so read once per graph.</summary>
    public static async Task<Dictionary<string, string[]>> DependenciesAsync(DbSession s, Guid graph) =>
        (await s.QueryAsync("SELECT drv_path, deps FROM graph_nodes WHERE graph_id = $g ORDER BY position", r => (r.GetString(0), r.GetString(1)), ("$g", graph.ToString())))
        .ToDictionary(r => r.Item1, r => JsonSerializer.Deserialize<string[]>(r.Item2, MessagingJson.Options)!, StringComparer.Ordinal);

    /// <summary>A running graph's node as store roots: its derivation and its output paths (space separated).</summary>
    public sealed record LiveNodePaths(long GraphRow, string DrvPath, string? Outputs);

    /// <summary>
    /// Up to <paramref name="limit"/> nodes of running graphs after node <paramref name="afterNode"/> of graph row
    /// <paramref name="graphRow"/> (null: after every node of that graph), by graph row then derivation: a graph's
    /// nodes are fixed when it is created, and a new graph gets a higher row (see <c>StoreRoots</c>). The output paths
    /// come out of their JSON object in SQLite (<c>json_each</c>), not parsed here node by node.
    /// </summary>
    public static async Task<List<LiveNodePaths>> LiveNodesAfterAsync(DbSession s, long graphRow, string? afterNode, int limit)
    {
        const string Select = "SELECT g.rowid, n.drv_path, (SELECT group_concat(o.value, ' ') FROM json_each(n.output_paths) o) FROM graphs g JOIN graph_nodes n ON n.graph_id = g.id";
        static LiveNodePaths Read(SqliteDataReader r) => new(r.GetInt64(0), r.GetString(1), r.IsDBNull(2) ? null : r.GetString(2));
        // Two reads, so each is a range of the primary key (graph, derivation) rather than a scan of the first graph.
        var rest = afterNode is null ? [] : await s.QueryAsync(
            $"{Select} WHERE g.rowid = $g AND g.state = 'running' AND n.drv_path > $d ORDER BY n.drv_path LIMIT $n",
            Read, ("$g", graphRow), ("$d", afterNode), ("$n", limit));
        if (rest.Count >= limit)
            return rest;
        rest.AddRange(await s.QueryAsync(
            $"{Select} WHERE g.state = 'running' AND g.rowid > $g ORDER BY g.rowid, n.drv_path LIMIT $n",
            Read, ("$g", graphRow), ("$n", limit - rest.Count)));
        return rest;
    }

    /// <summary>Also numbers the change (<c>changed</c>: one more than the graph's highest), for followers reading changes only.</summary>
    public static Task SetNodeAsync(DbSession s, Guid graph, string drvPath, string state, Guid? buildId, string? reason) => s.ExecuteAsync(
        """
        UPDATE graph_nodes SET state = $st, build_id = COALESCE($b, build_id), reason = $r,
            changed = (SELECT MAX(changed) FROM graph_nodes WHERE graph_id = $g) + 1
        WHERE graph_id = $g AND drv_path = $d
        """,
        ("$g", graph.ToString()), ("$d", drvPath), ("$st", state), ("$b", buildId?.ToString()), ("$r", reason));

    public static Task FinishAsync(DbSession s, Guid graph, string state, DateTimeOffset now) => s.ExecuteAsync(
        "UPDATE graphs SET state = $st, finished_at = $now WHERE id = $g AND state = 'running'",
        ("$g", graph.ToString()), ("$st", state), ("$now", BuildTable.Ms(now)));

    private static GraphRecord ReadGraph(SqliteDataReader r) => new(
        Guid.Parse(r.GetString(0)), JsonSerializer.Deserialize<string[]>(r.GetString(1), MessagingJson.Options)!, r.GetInt64(2) != 0,
        r.GetInt32(3), TimeSpan.FromMilliseconds(r.GetInt64(4)), TimeSpan.FromMilliseconds(r.GetInt64(5)), r.GetInt64(6) != 0, r.GetString(7),
        BuildTable.FromMs(r, 8)!.Value, BuildTable.FromMs(r, 9), r.GetInt64(10) != 0);

    private static GraphNodeRecord ReadNode(SqliteDataReader r) => new(
        Guid.Parse(r.GetString(0)), r.GetString(1), JsonSerializer.Deserialize<string[]>(r.GetString(2), MessagingJson.Options)!,
        JsonSerializer.Deserialize<string[]>(r.GetString(3), MessagingJson.Options)!,
        JsonSerializer.Deserialize<Dictionary<string, string>>(r.GetString(4), MessagingJson.Options)!, r.GetInt64(5) != 0, r.GetString(6),
        r.IsDBNull(7) ? null : Guid.Parse(r.GetString(7)), r.IsDBNull(8) ? null : r.GetString(8));

    private static string Json<T>(T value) => JsonSerializer.Serialize(value, MessagingJson.Options);
}
