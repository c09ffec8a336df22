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

    public Task<GraphView?> GetAsync(Guid id, CancellationToken cancellationToken) => db.ReadAsync(async s =>
    {
        var g = await GraphTable.GetAsync(s, id);
        if (g is null)
            return null;
        var nodes = await s.QueryAsync(
            $"""
            SELECT n.drv_path, {NodeStateSql}, n.is_target, b.id, b.worker, b.failure_kind,
                COALESCE(n.reason, CASE WHEN ({NodeStateSql}) = 'failed' THEN COALESCE(b.failure_reason, b.state) END),
                n.deps, n.wanted_outputs, n.output_paths
            FROM graph_nodes n LEFT JOIN builds b ON b.id = n.build_id
            WHERE n.graph_id = $g ORDER BY n.position
            """,
            r => new GraphNodeView(r.GetString(0), r.GetString(1), r.GetInt64(2) != 0, r.IsDBNull(3) ? null : Guid.Parse(r.GetString(3)),
                r.IsDBNull(4) ? null : r.GetString(4), r.IsDBNull(5) ? null : r.GetString(5), r.IsDBNull(6) ? null : r.GetString(6),
                JsonSerializer.Deserialize<string[]>(r.GetString(7), MessagingJson.Options)!, JsonSerializer.Deserialize<string[]>(r.GetString(8), MessagingJson.Options)!,
                JsonSerializer.Deserialize<Dictionary<string, string>>(r.GetString(9), MessagingJson.Options)!),
            ("$g", id.ToString()));
        var counts = Counts(nodes.CountBy(n => n.State).ToDictionary(StringComparer.Ordinal));
        return new GraphView(g.Id, g.State, g.KeepGoing, g.Targets, g.CreatedAt, g.FinishedAt, counts, nodes);
    }, cancellationToken);

    public Task<List<GraphView>> RecentAsync(int limit, CancellationToken cancellationToken) => db.ReadAsync(async s =>
    {
        var list = new List<GraphView>();
        foreach (var g in await GraphTable.RecentAsync(s, limit))
        {
            // Only a submitted node needs its build (the join's condition): a finished graph is counted from its nodes alone.
            var states = await s.QueryAsync(
                $"SELECT {NodeStateSql}, COUNT(*) FROM graph_nodes n LEFT JOIN builds b ON n.state = 'submitted' AND b.id = n.build_id WHERE n.graph_id = $g GROUP BY 1",
                r => (State: r.GetString(0), Count: r.GetInt32(1)), ("$g", g.Id.ToString()));
            list.Add(new GraphView(g.Id, g.State, g.KeepGoing, g.Targets, g.CreatedAt, g.FinishedAt,
                Counts(states.ToDictionary(x => x.State, x => x.Count, StringComparer.Ordinal)), []));
        }

        return list;
    }, cancellationToken);

    private static GraphCounts Counts(Dictionary<string, int> byState)
    {
        int Count(string state) => byState.GetValueOrDefault(state);
        return new GraphCounts(byState.Values.Sum(), Count(GraphNodeState.Skipped), Count(GraphNodeState.Waiting), Count("queued"), Count("running"),
            Count(GraphNodeState.Succeeded), Count(GraphNodeState.Failed), Count(GraphNodeState.DependencyFailed), Count(GraphNodeState.Stopped));
    }
}
