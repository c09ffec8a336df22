using System.Text.Json;
using BuildFarm.Dispatcher.Graphs;
using BuildFarm.Dispatcher.Lifecycle;
using BuildFarm.Messaging.Requests;

namespace BuildFarm.Dispatcher.Api;

/// <summary>
/// Read side of graphs: nodes joined with their builds (queued or running, which worker, why it failed), in one query
/// per graph on a reader connection (never queued behind the lifecycle's writes; `buildfarm build` polls this while
/// its graph runs). The list counts nodes in SQL, without reading them.
/// </summary>
internal sealed class GraphViews(LifecycleDatabase db)
{
    /// <summary>A submitted node shows its build's state until the next tick folds a finished build in.</summary>
    private const string NodeStateSql = """
        CASE WHEN n.state <> 'submitted' THEN n.state WHEN b.state = 'running' THEN 'running' WHEN b.state = 'succeeded' THEN 'succeeded'
             WHEN b.state IN ('failed', 'cancelled') THEN 'failed' ELSE 'queued' END
        """;

    /// <summary>The graph with every node.</summary>
    public Task<GraphView?> GetAsync(Guid id, CancellationToken cancellationToken) => GetAsync(id, null, cancellationToken);

    /// <param name="id">The graph.</param>
    /// <param name="since">A <see cref="GraphView.Cursor"/> the caller has seen: only the nodes changed after it, and the
    /// submitted ones (their builds' states change without the node), are returned; null: every node.</param>
    /// <param name="cancellationToken">Stops the read.</param>
    /// <param name="offset">Without <paramref name="since"/>: the first node returned, in dependency order.</param>
    /// <param name="limit">Without <paramref name="since"/>: at most this many nodes; null: all from the offset.</param>
    public Task<GraphView?> GetAsync(Guid id, long? since, CancellationToken cancellationToken, int offset = 0, int? limit = null) => db.ReadAsync(async s =>
    {
        var g = await GraphTable.GetAsync(s, id);
        if (g is null)
            return null;
        // The cursor and the nodes from the same snapshot: a change committed after this read gets a higher number.
        var cursor = (long)(await s.ScalarAsync("SELECT COALESCE(MAX(changed), 0) FROM graph_nodes WHERE graph_id = $g", ("$g", id.ToString())) ?? 0L);
        // Dependencies are parsed for every node (the levels need them); wanted outputs and output paths only for the
        // nodes of the answer (a page of a 10,000-node graph parses 500 of each, not 10,000).
        var rows = await s.QueryAsync(
            $"""
            SELECT n.drv_path, {NodeStateSql}, n.is_target, b.id, b.worker, b.failure_kind,
                COALESCE(n.reason, CASE WHEN ({NodeStateSql}) = 'failed' THEN COALESCE(b.failure_reason, b.state) END),
                n.deps, n.wanted_outputs, n.output_paths
            FROM graph_nodes n LEFT JOIN builds b ON b.id = n.build_id
            WHERE n.graph_id = $g {(since is null ? "" : "AND (n.changed > $since OR n.state = 'submitted')")} ORDER BY n.position
            """,
            r => (View: new GraphNodeView(r.GetString(0), r.GetString(1), r.GetInt64(2) != 0, r.IsDBNull(3) ? null : Guid.Parse(r.GetString(3)),
                    r.IsDBNull(4) ? null : r.GetString(4), r.IsDBNull(5) ? null : r.GetString(5), r.IsDBNull(6) ? null : r.GetString(6),
                    JsonSerializer.Deserialize<string[]>(r.GetString(7), MessagingJson.Options)!, [], new Dictionary<string, string>()),
                Wanted: r.GetString(8), Outputs: r.GetString(9)),
            ("$g", id.ToString()), ("$since", since ?? 0));
        var json = rows.ToDictionary(r => r.View.DrvPath, r => (r.Wanted, r.Outputs), StringComparer.Ordinal);
        GraphNodeView Whole(GraphNodeView v) => v with
        {
            WantedOutputs = JsonSerializer.Deserialize<string[]>(json[v.DrvPath].Wanted, MessagingJson.Options)!,
            OutputPaths = JsonSerializer.Deserialize<Dictionary<string, string>>(json[v.DrvPath].Outputs, MessagingJson.Options)!,
        };

        var nodes = rows.ConvertAll(r => r.View);
        if (since is not null)
            return new GraphView(g.Id, g.State, g.KeepGoing, g.Targets, g.CreatedAt, g.FinishedAt, await CountsAsync(s, id), nodes.ConvertAll(Whole), cursor);
        var counts = Counts(nodes.CountBy(n => n.State).ToDictionary(StringComparer.Ordinal));
        var ordered = InDependencyOrder(nodes).Skip(offset);
        return new GraphView(g.Id, g.State, g.KeepGoing, g.Targets, g.CreatedAt, g.FinishedAt, counts,
            [.. (limit is { } n ? ordered.Take(n) : ordered).Select(Whole)], cursor);
    }, cancellationToken);

    /// <summary>
    /// Nodes with their <see cref="GraphNodeView.Level"/>, by level then name: every input before what needs it, so a
    /// slice of this order is a page a reader can follow (the UI asks for 500 at a time).
    /// </summary>
    internal static IEnumerable<GraphNodeView> InDependencyOrder(IReadOnlyList<GraphNodeView> nodes)
    {
        var byPath = nodes.ToDictionary(n => n.DrvPath, StringComparer.Ordinal);
        var levels = new Dictionary<string, int>(StringComparer.Ordinal);
        // Iterative depth-first walk: a 10,000-deep chain must not overflow the stack. A cycle (never made by Nix)
        // counts as level 0 where it closes.
        int LevelOf(string root)
        {
            var stack = new Stack<(string Path, int Next)>();
            var onPath = new HashSet<string>(StringComparer.Ordinal) { root };
            stack.Push((root, 0));
            while (stack.Count > 0)
            {
                var (path, next) = stack.Pop();
                var deps = byPath[path].Dependencies;
                var pending = false;
                for (var i = next; i < deps.Count; i++)
                {
                    var d = deps[i];
                    if (levels.ContainsKey(d) || !byPath.ContainsKey(d) || onPath.Contains(d))
                        continue;
                    stack.Push((path, i + 1));
                    stack.Push((d, 0));
                    onPath.Add(d);
                    pending = true;
                    break;
                }

                if (pending)
                    continue;
                var level = 0;
                foreach (var d in deps)
                    if (levels.TryGetValue(d, out var l))
                        level = Math.Max(level, l + 1);
                levels[path] = level;
                onPath.Remove(path);
            }

            return levels[root];
        }

        foreach (var n in nodes)
            if (!levels.ContainsKey(n.DrvPath))
                LevelOf(n.DrvPath);
        return nodes.Select(n => n with { Level = levels[n.DrvPath] })
            .OrderBy(n => n.Level).ThenBy(n => DrvName(n.DrvPath), StringComparer.Ordinal);
    }

    private static string DrvName(string drvPath) =>
        Path.GetFileName(drvPath) is var file && file.IndexOf('-', StringComparison.Ordinal) is >= 0 and var dash ? file[(dash + 1)..] : drvPath;

    public Task<List<GraphView>> RecentAsync(int limit, CancellationToken cancellationToken) => db.ReadAsync(async s =>
    {
        var list = new List<GraphView>();
        foreach (var g in await GraphTable.RecentAsync(s, limit))
        {
            list.Add(new GraphView(g.Id, g.State, g.KeepGoing, g.Targets, g.CreatedAt, g.FinishedAt, await CountsAsync(s, g.Id), []));
        }

        return list;
    }, cancellationToken);

    /// <summary>Counted from graph_nodes_state (covering); only a submitted node needs its build (the join's condition).</summary>
    private static async Task<GraphCounts> CountsAsync(DbSession s, Guid graph)
    {
        var states = await s.QueryAsync(
            $"SELECT {NodeStateSql}, COUNT(*) FROM graph_nodes n LEFT JOIN builds b ON n.state = 'submitted' AND b.id = n.build_id WHERE n.graph_id = $g GROUP BY 1",
            r => (State: r.GetString(0), Count: r.GetInt32(1)), ("$g", graph.ToString()));
        return Counts(states.ToDictionary(x => x.State, x => x.Count, StringComparer.Ordinal));
    }

    private static GraphCounts Counts(Dictionary<string, int> byState)
    {
        int Count(string state) => byState.GetValueOrDefault(state);
        return new GraphCounts(byState.Values.Sum(), Count(GraphNodeState.Skipped), Count(GraphNodeState.Waiting), Count("queued"), Count("running"),
            Count(GraphNodeState.Succeeded), Count(GraphNodeState.Failed), Count(GraphNodeState.DependencyFailed), Count(GraphNodeState.Stopped));
    }
}
