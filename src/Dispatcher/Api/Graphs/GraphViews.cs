using BuildFarm.Dispatcher.Graphs;
using BuildFarm.Dispatcher.Lifecycle;

namespace BuildFarm.Dispatcher.Api;

/// <summary>Read side of graphs: nodes joined with their builds (queued or running, which worker, why it failed).</summary>
internal sealed class GraphViews(LifecycleDatabase db)
{
    public Task<GraphView?> GetAsync(Guid id, CancellationToken cancellationToken) => db.RunAsync(async s =>
    {
        var g = await GraphTable.GetAsync(s, id);
        return g is null ? null : await ToViewAsync(s, g);
    }, cancellationToken);

    public Task<List<GraphView>> RecentAsync(int limit, CancellationToken cancellationToken) => db.RunAsync(async s =>
    {
        var list = new List<GraphView>();
        foreach (var g in await GraphTable.RecentAsync(s, limit))
            list.Add((await ToViewAsync(s, g)) with { Nodes = [] });
        return list;
    }, cancellationToken);

    private static async Task<GraphView> ToViewAsync(DbSession s, GraphRecord g)
    {
        var nodes = new List<GraphNodeView>();
        foreach (var n in await GraphTable.NodesAsync(s, g.Id))
        {
            var b = n.BuildId is { } id ? await BuildTable.GetAsync(s, id) : null;
            // A submitted node shows its build's state until the next tick folds a finished build in.
            var state = n.State != GraphNodeState.Submitted ? n.State : b?.State switch
            {
                BuildState.Running => "running",
                BuildState.Succeeded => GraphNodeState.Succeeded,
                BuildState.Failed or BuildState.Cancelled => GraphNodeState.Failed,
                _ => "queued",
            };
            var reason = n.Reason ?? (state == GraphNodeState.Failed ? b?.FailureReason ?? b?.State : null);
            nodes.Add(new GraphNodeView(n.DrvPath, state, n.IsTarget, b?.Id, b?.Worker, b?.FailureKind, reason, n.Dependencies, n.WantedOutputs, n.OutputPaths));
        }

        var counts = new GraphCounts(
            nodes.Count, Count(nodes, GraphNodeState.Skipped), Count(nodes, GraphNodeState.Waiting), Count(nodes, "queued"), Count(nodes, "running"),
            Count(nodes, GraphNodeState.Succeeded), Count(nodes, GraphNodeState.Failed), Count(nodes, GraphNodeState.DependencyFailed), Count(nodes, GraphNodeState.Stopped));
        return new GraphView(g.Id, g.State, g.KeepGoing, g.Targets, g.CreatedAt, g.FinishedAt, counts, nodes);
    }

    private static int Count(List<GraphNodeView> nodes, string state) => nodes.Count(n => n.State == state);
}
