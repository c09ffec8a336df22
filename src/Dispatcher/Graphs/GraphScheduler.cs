using BuildFarm.Messaging.Routing;
using BuildFarm.Dispatcher.Lifecycle;
using BuildFarm.Dispatcher.Origin;
using BuildFarm.Dispatcher.Submission;
using BuildFarm.Store.Paths;
using Serilog;

namespace BuildFarm.Dispatcher.Graphs;

/// <summary>What a client asks for: targets (logical or physical .drv paths) and how to build them.</summary>
internal sealed record GraphRequest(IReadOnlyList<string> Targets, bool KeepGoing, SubmitSettings Settings);

/// <summary>
/// Runs graphs of derivations on top of the build lifecycle: submits every node whose inputs are done (all at once;
/// the broker and the workers' slots are the throttle), and as builds finish (their outputs imported into the origin
/// store by the lifecycle) submits what became ready. Everything is in SQLite, so a graph survives its client and a
/// dispatcher restart: <see cref="TickAsync"/> picks up every running graph where it was.
/// </summary>
/// <remarks>
/// Delivery: a ready node is marked submitted with a fresh build id in one transaction, then handed to the lifecycle
/// with that id. A crash in between leaves a submitted node without a build row, which the next tick submits again
/// (with the same id), so a node is built at most once per graph. A node whose derivation another graph or
/// submission is building already joins that build (the node then records that build's id), and the graph is one
/// of its waiters: cancelling the graph cancels only builds no one else waits for.
/// </remarks>
internal sealed class GraphScheduler(LifecycleDatabase db, GraphExpander expander, OriginStore origin, BuildSubmitter submitter, BuildLifecycle lifecycle, TimeProvider time) : IDisposable
{
    private readonly SemaphoreSlim _gate = new(1, 1);

    // Per running graph, under _gate: its nodes' inputs (fixed at creation) and whether its last step left nothing to
    // plan. A tick re-plans a graph only when one of its builds ended, a build row is missing, or a step changed it:
    // the periodic tick of a large graph whose builds are all still running is one query, not a parse of every node.
    private readonly Dictionary<Guid, Dictionary<string, string[]>> _dependencies = [];
    private readonly HashSet<Guid> _settled = [];
    private int _running;

    /// <summary>Whether the last tick (or a graph created since) found a running graph: a build's end can advance one.</summary>
    public bool HasRunningGraphs => Volatile.Read(ref _running) > 0;

    public async Task<(Guid? Id, string? Error)> CreateAsync(GraphRequest request, CancellationToken cancellationToken)
    {
        if (request.Targets.Count == 0)
            return (null, "give at least one target (.drv path)");
        var targets = new List<StorePath>();
        foreach (var text in request.Targets)
        {
            var (path, error) = expander.ResolveTarget(text);
            if (path is null)
                return (null, error);
            targets.Add(path);
        }

        var (nodes, expandError) = await expander.ExpandAsync(targets, cancellationToken);
        if (nodes is null)
            return (null, expandError);
        var graph = new GraphRecord(Guid.NewGuid(), [.. targets.Select(t => t.FullPath).Distinct()], request.KeepGoing, request.Settings.Priority,
            request.Settings.Timeout, request.Settings.MaxSilentTime, request.Settings.WaitForCapacity, GraphState.Running, time.GetUtcNow(), null,
            request.Settings.Trusted);
        var records = nodes.Select(n => new GraphNodeRecord(graph.Id, n.DrvPath, n.Dependencies, n.WantedOutputs, n.OutputPaths, n.IsTarget,
            n.Skipped ? GraphNodeState.Skipped : GraphNodeState.Waiting, null, n.Skipped ? "outputs already valid in the origin store" : null));
        await db.RunAsync(s => GraphTable.InsertAsync(s, graph, records), cancellationToken);
        Interlocked.Increment(ref _running);
        Log.ForContext("GraphId", graph.Id).Information("Graph {GraphId} of {Targets}: {Nodes} derivations, {Skipped} already built",
            graph.Id, graph.Targets, nodes.Count, nodes.Count(n => n.Skipped));
        // Checkpoint: the graph is durable; if we die now (or this tick fails) the periodic tick submits its ready nodes.
        try
        {
            await TickAsync(cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            Log.ForContext("GraphId", graph.Id).Warning(e, "First tick of graph {GraphId} failed; the periodic tick retries", graph.Id);
        }

        return (graph.Id, null);
    }

    /// <summary>Stops a graph: nothing new starts, its unfinished builds are cancelled.</summary>
    public async Task<bool> CancelAsync(Guid id, string reason, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        List<Guid> builds;
        try
        {
            builds = await db.RunAsync(async s =>
            {
                var g = await GraphTable.GetAsync(s, id);
                if (g is null || g.State != GraphState.Running)
                    return [];
                var open = new List<Guid>();
                foreach (var n in await GraphTable.NodesAsync(s, id))
                {
                    if (n.State == GraphNodeState.Waiting)
                        await GraphTable.SetNodeAsync(s, id, n.DrvPath, GraphNodeState.Stopped, null, "not started: " + reason);
                    else if (n.State == GraphNodeState.Submitted && n.BuildId is { } b)
                    {
                        open.Add(b);
                        await GraphTable.SetNodeAsync(s, id, n.DrvPath, GraphNodeState.Failed, null, "cancelled: " + reason);
                    }
                }

                await GraphTable.FinishAsync(s, id, GraphState.Cancelled, time.GetUtcNow());
                return open;
            }, cancellationToken);
            _settled.Remove(id);
            _dependencies.Remove(id);
        }
        finally
        {
            _gate.Release();
        }

        foreach (var b in builds)
            await lifecycle.LeaveAsync(b, Waiter(id), reason, cancellationToken);
        return true;
    }

    /// <summary>Advances every running graph: records finished builds, fails dependents, submits what is ready.</summary>
    public async Task TickAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            var running = await db.RunAsync(s => GraphTable.ListAsync(s, GraphState.Running), cancellationToken);
            Volatile.Write(ref _running, running.Count);
            foreach (var g in running)
            {
                // Refusals fail nodes, which may fail or stop others: advance until a step submits nothing new.
                for (var round = 0; round < 100 && await AdvanceAsync(g, cancellationToken); round++)
                {
                }
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <returns>True when a submission was refused (the graph changed after the step was committed).</returns>
    private async Task<bool> AdvanceAsync(GraphRecord g, CancellationToken cancellationToken)
    {
        var log = Log.ForContext("GraphId", g.Id);
        var toSubmit = await db.RunAsync<(List<(string DrvPath, Guid BuildId)> Submit, string? Outcome)>(async s =>
        {
            if (!_dependencies.TryGetValue(g.Id, out var dependencies))
                _dependencies[g.Id] = dependencies = await GraphTable.DependenciesAsync(s, g.Id);
            var nodes = await GraphTable.NodeStatesAsync(s, g.Id);
            var submit = new List<(string DrvPath, Guid BuildId)>();
            var current = new List<PlanNode>(nodes.Count);
            var changed = false;
            foreach (var n in nodes)
            {
                var state = n.State;
                if (state == GraphNodeState.Submitted && n.BuildId is { } id)
                {
                    if (n.BuildState is null)
                        submit.Add((n.DrvPath, id));
                    else if (n.BuildState == BuildState.Succeeded)
                        state = GraphNodeState.Succeeded;
                    else if (BuildState.IsFinished(n.BuildState))
                        state = GraphNodeState.Failed;
                    if (state != n.State)
                    {
                        await GraphTable.SetNodeAsync(s, g.Id, n.DrvPath, state, null, state == GraphNodeState.Failed ? n.FailureReason ?? n.BuildState : null);
                        changed = true;
                    }
                }

                current.Add(new PlanNode(n.DrvPath, dependencies.GetValueOrDefault(n.DrvPath) ?? [], state));
            }

            // Nothing ended and the last step left nothing to do: the plan would be the same.
            if (!changed && submit.Count == 0 && _settled.Contains(g.Id))
                return (submit, null);
            var step = GraphPlanner.Next(current, g.KeepGoing);
            foreach (var (drv, reason) in step.DependencyFailed)
                await GraphTable.SetNodeAsync(s, g.Id, drv, GraphNodeState.DependencyFailed, null, reason);
            foreach (var (drv, reason) in step.Stopped)
                await GraphTable.SetNodeAsync(s, g.Id, drv, GraphNodeState.Stopped, null, reason);
            foreach (var drv in step.Ready)
            {
                var id = Guid.NewGuid();
                await GraphTable.SetNodeAsync(s, g.Id, drv, GraphNodeState.Submitted, id, null);
                submit.Add((drv, id));
            }

            if (step.Outcome is not null)
                await GraphTable.FinishAsync(s, g.Id, step.Outcome, time.GetUtcNow());
            return (submit, step.Outcome);
        }, cancellationToken);
        // Settled until one of its builds ends (a refusal below changes it again); a finished graph is forgotten.
        if (toSubmit.Outcome is null)
            _settled.Add(g.Id);
        else
        {
            _settled.Remove(g.Id);
            _dependencies.Remove(g.Id);
        }

        if (toSubmit.Outcome is not null)
            log.Information("Graph {GraphId} {Outcome}", g.Id, toSubmit.Outcome);

        var refused = false;
        foreach (var (drvPath, buildId) in toSubmit.Submit)
        {
            // Checkpoint: the node is durably "submitted" with this id; if this submission is lost, the next tick repeats it.
            var (submitted, error) = await SubmitAsync(g, drvPath, buildId, cancellationToken);
            if (submitted is { } joined && joined != buildId)
            {
                // Joined a build in flight: the node follows that one. If we die before this commit, the next tick
                // finds no row for buildId and submits again, which joins again (one waiter row per graph).
                await db.RunAsync(s => GraphTable.SetNodeAsync(s, g.Id, drvPath, GraphNodeState.Submitted, joined, null), cancellationToken);
                log.Information("Graph {GraphId}: {DrvPath} joined build {BuildId} already in flight", g.Id, drvPath, joined);
            }

            if (error is null)
                continue;
            log.Warning("Graph {GraphId}: {DrvPath} refused: {Reason}", g.Id, drvPath, error);
            await db.RunAsync(s => GraphTable.SetNodeAsync(s, g.Id, drvPath, GraphNodeState.Failed, null, "refused: " + error), cancellationToken);
            _settled.Remove(g.Id);
            refused = true;
        }

        return refused;
    }

    /// <summary>The waiter a graph is on each of its builds.</summary>
    public static string Waiter(Guid graphId) => WaiterTable.GraphPrefix + graphId.ToString("N");

    /// <returns>The build the node now waits for (a joined one may differ from <paramref name="buildId"/>), or why it was refused.</returns>
    private async Task<(Guid? BuildId, string? Error)> SubmitAsync(GraphRecord g, string drvPath, Guid buildId, CancellationToken cancellationToken)
    {
        var path = StorePath.Parse(origin.Layout.StoreDir, drvPath);
        var (drv, text, error) = await origin.ReadDerivationAsync(path, cancellationToken);
        if (drv is null)
            return (null, error);
        // The same check the API's intake makes: a node whose system cannot name a queue fails, not the whole tick.
        if (BuildClass.Problem(drv.System, drv.RequiredSystemFeatures) is { } classProblem)
            return (null, classProblem);
        var intake = new IntakeResult(drvPath, text!, drv.System, drv.RequiredSystemFeatures, [.. drv.Outputs.Keys], drv);
        var result = await submitter.SubmitAsync(intake, new SubmitSettings(g.Priority, g.WaitForCapacity, g.Timeout, g.MaxSilentTime, g.Trusted),
            cancellationToken, buildId, Waiter(g.Id));
        return (result.BuildId, result.BuildId is null ? result.RefusedBecause : null);
    }

    public void Dispose() => _gate.Dispose();
}
