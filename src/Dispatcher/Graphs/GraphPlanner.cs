namespace BuildFarm.Dispatcher.Graphs;

/// <summary>A node as the planner sees it: its derivation, the derivations it needs, and where it stands.</summary>
internal sealed record PlanNode(string DrvPath, IReadOnlyList<string> Dependencies, string State);

/// <summary>What one planning step decides; applied by the scheduler in one transaction.</summary>
/// <param name="Ready">Waiting nodes whose inputs are all done: submit them now.</param>
/// <param name="DependencyFailed">Waiting nodes that can never build, with the failed input that blocks them.</param>
/// <param name="Stopped">Waiting nodes left unstarted because of a failure without keep-going, with the failure.</param>
/// <param name="Outcome">Null while the graph runs; otherwise its final state.</param>
internal sealed record PlanStep(
    IReadOnlyList<string> Ready,
    IReadOnlyList<(string DrvPath, string Reason)> DependencyFailed,
    IReadOnlyList<(string DrvPath, string Reason)> Stopped,
    string? Outcome);

/// <summary>
/// The scheduling rule for a graph of derivations, free of I/O: a node is ready when every input derivation is done
/// (built or already valid); a node with a failed input is "dependency failed" (transitively); after a failure,
/// without keep-going nothing new starts, while running builds finish. The graph ends when nothing is waiting or
/// submitted: succeeded when every node is done, else failed.
/// </summary>
internal static class GraphPlanner
{
    public static PlanStep Next(IReadOnlyList<PlanNode> nodes, bool keepGoing)
    {
        var state = nodes.ToDictionary(n => n.DrvPath, n => n.State, StringComparer.Ordinal);
        var byPath = nodes.ToDictionary(n => n.DrvPath, StringComparer.Ordinal);
        var dependencyFailed = new List<(string, string)>();

        // Fixpoint: a waiting node whose input failed (or dependency-failed) fails too; repeat until nothing changes.
        bool changed;
        do
        {
            changed = false;
            foreach (var n in nodes)
            {
                if (state[n.DrvPath] != GraphNodeState.Waiting)
                    continue;
                var blocker = n.Dependencies.FirstOrDefault(d => state.TryGetValue(d, out var s) && s is GraphNodeState.Failed or GraphNodeState.DependencyFailed);
                if (blocker is null)
                    continue;
                state[n.DrvPath] = GraphNodeState.DependencyFailed;
                dependencyFailed.Add((n.DrvPath, "dependency failed: " + RootFailure(blocker, state, byPath)));
                changed = true;
            }
        }
        while (changed);

        var stopped = new List<(string, string)>();
        var ready = new List<string>();
        var firstFailure = nodes.FirstOrDefault(n => state[n.DrvPath] == GraphNodeState.Failed)?.DrvPath;
        foreach (var n in nodes)
        {
            if (state[n.DrvPath] != GraphNodeState.Waiting)
                continue;
            if (firstFailure is not null && !keepGoing)
            {
                state[n.DrvPath] = GraphNodeState.Stopped;
                stopped.Add((n.DrvPath, $"not started: {firstFailure} failed (use --keep-going to build what does not depend on it)"));
            }
            else if (n.Dependencies.All(d => !state.TryGetValue(d, out var s) || GraphNodeState.IsDone(s)))
            {
                ready.Add(n.DrvPath);
            }
        }

        string? outcome = null;
        if (ready.Count == 0 && !state.Values.Any(GraphNodeState.IsOpen))
            outcome = state.Values.All(GraphNodeState.IsDone) ? GraphState.Succeeded : GraphState.Failed;
        return new PlanStep(ready, dependencyFailed, stopped, outcome);
    }

    /// <summary>Follows dependency failures down to the node whose own build failed.</summary>
    private static string RootFailure(string blocker, Dictionary<string, string> state, Dictionary<string, PlanNode> byPath)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var current = blocker;
        while (state[current] == GraphNodeState.DependencyFailed && seen.Add(current))
        {
            var next = byPath[current].Dependencies.FirstOrDefault(d => state.TryGetValue(d, out var s) && s is GraphNodeState.Failed or GraphNodeState.DependencyFailed);
            if (next is null)
                break;
            current = next;
        }

        return current;
    }
}
