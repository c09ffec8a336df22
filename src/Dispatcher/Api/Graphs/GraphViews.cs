using System.Collections.Concurrent;
using System.Text.Json;
using BuildFarm.Dispatcher.Graphs;
using BuildFarm.Dispatcher.Lifecycle;
using BuildFarm.Messaging.Requests;

namespace BuildFarm.Dispatcher.Api;

/// <summary>
/// Read side of graphs: nodes joined with their builds (queued or running, which worker, why it failed), in one query
/// per graph on a reader connection (never queued behind the lifecycle's writes; `buildfarm build` polls this while
/// its graph runs). The list counts nodes in SQL, without reading them; a page of a graph reads only its nodes.
/// </summary>
internal sealed class GraphViews(LifecycleDatabase db)
{
    /// <summary>A submitted node shows its build's state until the next tick folds a finished build in.</summary>
    private const string NodeStateSql = """
        CASE WHEN n.state <> 'submitted' THEN n.state WHEN b.state = 'running' THEN 'running' WHEN b.state = 'succeeded' THEN 'succeeded'
             WHEN b.state IN ('failed', 'cancelled') THEN 'failed' ELSE 'queued' END
        """;

    /// <summary>Dependency orders of the graphs last read: a graph's nodes and their inputs are fixed when it is stored.</summary>
    private readonly ConcurrentDictionary<Guid, NodeOrder> _orders = new();

    private const int CachedOrders = 8;

    /// <summary>The graph with every node.</summary>
    public Task<GraphView?> GetAsync(Guid id, CancellationToken cancellationToken) => GetAsync(id, null, cancellationToken);

    /// <summary>The graph as records (what the scheduler, tests and the small answers use); see <see cref="ReadAsync"/>.</summary>
    public async Task<GraphView?> GetAsync(Guid id, long? since, CancellationToken cancellationToken, int offset = 0, int? limit = null) =>
        await ReadAsync(id, since, cancellationToken, offset, limit) is { } rows ? rows.ToView() : null;

    /// <param name="id">The graph.</param>
    /// <param name="since">A <see cref="GraphView.Cursor"/> the caller has seen: only the nodes changed after it, and the
    /// submitted ones (their builds' states change without the node), are returned; null: every node.</param>
    /// <param name="cancellationToken">Stops the read.</param>
    /// <param name="offset">Without <paramref name="since"/>: the first node returned, in dependency order.</param>
    /// <param name="limit">Without <paramref name="since"/>: at most this many nodes; null: all from the offset.</param>
    /// <remarks>
    /// The nodes' JSON columns stay as stored (<see cref="GraphRows"/> writes them into the answer as they are): a
    /// 10,000-node answer parses and re-serialises nothing. A page reads only its own nodes (with their builds): the
    /// order it is cut from is computed once per graph, from the dependencies alone.
    /// </remarks>
    public Task<GraphRows?> ReadAsync(Guid id, long? since, CancellationToken cancellationToken, int offset = 0, int? limit = null) => db.ReadAsync(async s =>
    {
        var g = await GraphTable.GetAsync(s, id);
        if (g is null)
            return null;
        // The cursor and the nodes from the same snapshot: a change committed after this read gets a higher number.
        var cursor = (long)(await s.ScalarAsync("SELECT COALESCE(MAX(changed), 0) FROM graph_nodes WHERE graph_id = $g", ("$g", id.ToString())) ?? 0L);
        if (since is not null)
        {
            var changed = await NodeRowsAsync(s, id, "AND (n.changed > $since OR n.state = 'submitted') ORDER BY n.position", ("$since", since.Value));
            return new GraphRows(g, await CountsAsync(s, id), changed, cursor);
        }

        var order = await OrderAsync(s, id);
        var first = Math.Min(offset, order.Paths.Length);
        var count = Math.Min(limit ?? int.MaxValue, order.Paths.Length - first);
        var whole = first == 0 && count == order.Paths.Length;
        var rows = whole
            ? await NodeRowsAsync(s, id, "")
            : await NodeRowsAsync(s, id, "AND n.drv_path IN (SELECT value FROM json_each($paths))",
                ("$paths", JsonSerializer.Serialize(order.Paths.AsSpan(first, count).ToArray(), MessagingJson.Options)));
        var byPath = rows.ToDictionary(r => r.DrvPath, StringComparer.Ordinal);
        var nodes = new List<GraphNodeRow>(count);
        for (var i = first; i < first + count; i++)
            nodes.Add(byPath[order.Paths[i]] with { Level = order.Levels[i] });
        var counts = whole ? Counts(rows.CountBy(n => n.State).ToDictionary(StringComparer.Ordinal)) : await CountsAsync(s, id);
        return new GraphRows(g, counts, nodes, cursor);
    }, cancellationToken);

    /// <summary>Nodes joined with their builds, JSON columns unparsed; <paramref name="where"/> narrows and orders them.</summary>
    private static Task<List<GraphNodeRow>> NodeRowsAsync(DbSession s, Guid id, string where, params (string Name, object? Value)[] parameters) => s.QueryAsync(
        $"""
        SELECT n.drv_path, {NodeStateSql}, n.is_target, b.id, b.worker, b.failure_kind,
            COALESCE(n.reason, CASE WHEN ({NodeStateSql}) = 'failed' THEN COALESCE(b.failure_reason, b.state) END),
            n.deps, n.wanted_outputs, n.output_paths
        FROM graph_nodes n LEFT JOIN builds b ON b.id = n.build_id
        WHERE n.graph_id = $g {where}
        """,
        r => new GraphNodeRow(r.GetString(0), r.GetString(1), r.GetInt64(2) != 0, r.IsDBNull(3) ? null : r.GetString(3),
            r.IsDBNull(4) ? null : r.GetString(4), r.IsDBNull(5) ? null : r.GetString(5), r.IsDBNull(6) ? null : r.GetString(6),
            r.GetString(7), r.GetString(8), r.GetString(9)),
        [("$g", id.ToString()), .. parameters]);

    /// <summary>The graph's nodes in dependency order with their levels: from the cache, else from their dependencies.</summary>
    private async Task<NodeOrder> OrderAsync(DbSession s, Guid id)
    {
        if (_orders.TryGetValue(id, out var known))
            return known;
        var deps = await GraphTable.DependenciesAsync(s, id);
        var ordered = InDependencyOrder(deps);
        var order = new NodeOrder([.. ordered.Select(o => o.DrvPath)], [.. ordered.Select(o => o.Level)]);
        // Bounded: a few big graphs are what the UI pages through; an evicted one is computed again.
        if (_orders.Count >= CachedOrders)
            _orders.Clear();
        _orders[id] = order;
        return order;
    }

    private sealed record NodeOrder(string[] Paths, int[] Levels);

    /// <summary>
    /// Nodes with their level (0 without an input in the graph, else one more than the deepest input's), by level then
    /// name: every input before what needs it, so a slice of this order is a page a reader can follow (the UI asks for
    /// 500 at a time).
    /// </summary>
    internal static List<(string DrvPath, int Level)> InDependencyOrder(IReadOnlyDictionary<string, string[]> dependencies)
    {
        var levels = new Dictionary<string, int>(StringComparer.Ordinal);
        // Iterative depth-first walk: a 10,000-deep chain must not overflow the stack. A cycle (never made by Nix)
        // counts as level 0 where it closes.
        void LevelOf(string root)
        {
            var stack = new Stack<(string Path, int Next)>();
            var onPath = new HashSet<string>(StringComparer.Ordinal) { root };
            stack.Push((root, 0));
            while (stack.Count > 0)
            {
                var (path, next) = stack.Pop();
                var deps = dependencies[path];
                var pending = false;
                for (var i = next; i < deps.Length; i++)
                {
                    var d = deps[i];
                    if (levels.ContainsKey(d) || !dependencies.ContainsKey(d) || onPath.Contains(d))
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
        }

        foreach (var path in dependencies.Keys)
            if (!levels.ContainsKey(path))
                LevelOf(path);
        // A stable sort over the nodes in graph order: two nodes of one level and name stay in that order.
        return [.. dependencies.Keys.Select(p => (DrvPath: p, Level: levels[p])).OrderBy(n => n.Level).ThenBy(n => DrvName(n.DrvPath), StringComparer.Ordinal)];
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
