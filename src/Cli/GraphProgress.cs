using System.Globalization;
using System.Text.Json;
using BuildFarm.Dispatcher.Api;
using BuildFarm.Cli.Api;

namespace BuildFarm.Cli;

/// <summary>Follows one graph: prints each node's transitions, the counts, the log of failed builds, and the result.</summary>
internal sealed class GraphProgress(DispatcherClient client, TextWriter stdout, TextWriter stderr, bool json, TimeProvider? time = null)
{
    /// <summary>How long a follower waits for a dispatcher that went away (a restart takes seconds; the graph is durable in it).</summary>
    public static readonly TimeSpan ReconnectBudget = TimeSpan.FromMinutes(2);
    private static readonly TimeSpan ReconnectInterval = TimeSpan.FromSeconds(1);
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web) { WriteIndented = true };
    private readonly Dictionary<string, string> _seen = new(StringComparer.Ordinal);
    private readonly Dictionary<Guid, long> _failedLogs = [];
    private string _lastCounts = "";

    public async Task<int> RunAsync(SubmitGraphBody body, CancellationToken ct)
    {
        var (accepted, error) = await client.SubmitGraphAsync(body, ct);
        if (accepted is null)
        {
            await stderr.WriteLineAsync($"buildfarm build: refused: {error}");
            return 1;
        }

        var c = accepted.Counts;
        await stderr.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
            $"buildfarm: graph {accepted.Id}: {c.Total} derivations, {c.Skipped} already built (follow: {client.Url.TrimEnd('/')}/api/graphs/{accepted.Id})"));
        try
        {
            // Each poll asks only for what changed since the last (and the nodes in flight): a poll of a 10,000-node
            // graph no longer costs the dispatcher 10,000 nodes every 300 ms. The end reads the whole graph once.
            long? cursor = null;
            while (true)
            {
                var graph = await GetGraphAsync(accepted.Id, cursor, ct);
                await ReportAsync(graph, ct);
                if (graph.State != "running")
                {
                    var final = await GetGraphAsync(accepted.Id, null, ct);
                    await ReportAsync(final, ct);
                    return await FinishAsync(final);
                }
                cursor = graph.Cursor;
                await Task.Delay(TimeSpan.FromMilliseconds(300), ct);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            await stderr.WriteLineAsync($"buildfarm: stopped following; graph {accepted.Id} goes on in the dispatcher (POST /api/graphs/{accepted.Id}/cancel stops it)");
            return 1;
        }
    }

    /// <summary>
    /// The graph, riding out a dispatcher that is unreachable for up to <see cref="ReconnectBudget"/> (killed and
    /// restarted: the graph lives in its database and goes on after the restart, so the client keeps following it).
    /// </summary>
    private async Task<GraphView> GetGraphAsync(Guid id, long? since, CancellationToken ct)
    {
        DateTimeOffset? lostAt = null;
        while (true)
        {
            try
            {
                var graph = await client.GetGraphAsync(id, ct, since);
                if (lostAt is not null)
                    await stderr.WriteLineAsync($"buildfarm: the dispatcher is back; following graph {id}");
                return graph;
            }
            catch (CliError e) when (e.Unreachable && (lostAt is null || _time.GetUtcNow() - lostAt < ReconnectBudget))
            {
                if (lostAt is null)
                {
                    lostAt = _time.GetUtcNow();
                    await stderr.WriteLineAsync($"buildfarm: {e.Message}; the graph goes on in the dispatcher: retrying for up to {ReconnectBudget.TotalMinutes:0} min");
                }

                await Task.Delay(ReconnectInterval, _time, ct);
            }
        }
    }

    private async Task ReportAsync(GraphView graph, CancellationToken ct)
    {
        foreach (var n in graph.Nodes)
        {
            if (_seen.TryGetValue(n.DrvPath, out var before) && before == n.State)
                continue;
            _seen[n.DrvPath] = n.State;
            switch (n.State)
            {
                case "running":
                    await stderr.WriteLineAsync($"building {n.DrvPath} on {n.Worker}");
                    break;
                case "succeeded":
                    await stderr.WriteLineAsync($"built {n.DrvPath}{(n.Worker is null ? "" : " on " + n.Worker)}");
                    break;
                case "failed":
                    await stderr.WriteLineAsync($"failed {n.DrvPath}: {n.Reason}");
                    if (n.BuildId is { } id)
                        _failedLogs.TryAdd(id, 0);
                    break;
                case "dependency-failed" or "stopped":
                    await stderr.WriteLineAsync($"{n.State} {n.DrvPath}: {n.Reason}");
                    break;
            }
        }

        // Log pieces travel apart from the failure event and may land a little later: follow failed builds' logs to the end.
        foreach (var id in _failedLogs.Keys.ToArray())
            _failedLogs[id] = await StreamLogAsync(id, _failedLogs[id], ct);
        var c = graph.Counts;
        var counts = string.Create(CultureInfo.InvariantCulture,
            $"[{c.Succeeded + c.Skipped}/{c.Total} done, {c.Running} running, {c.Queued} queued, {c.Waiting} waiting, {c.Failed + c.DependencyFailed + c.Stopped} failed]");
        if (counts != _lastCounts)
        {
            await stderr.WriteLineAsync(counts);
            _lastCounts = counts;
        }
    }

    private async Task<long> StreamLogAsync(Guid build, long cursor, CancellationToken ct)
    {
        while (true)
        {
            var log = await client.LogAsync(build, cursor, ct);
            foreach (var chunk in log.Chunks)
                await stderr.WriteAsync(chunk.Text);
            cursor = log.Next;
            if (log.Chunks.Count < 1000)
                return cursor;
        }
    }

    private async Task<int> FinishAsync(GraphView graph)
    {
        if (json)
            await stdout.WriteLineAsync(JsonSerializer.Serialize(graph, JsonOptions));
        if (graph.State == "succeeded")
        {
            if (!json)
            {
                foreach (var n in graph.Nodes.Where(n => n.IsTarget))
                {
                    foreach (var output in n.WantedOutputs)
                    {
                        if (n.OutputPaths.TryGetValue(output, out var path))
                            await stdout.WriteLineAsync(path);
                    }
                }
            }

            await stderr.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"buildfarm: graph {graph.Id} built ({graph.Counts.Succeeded} built, {graph.Counts.Skipped} already valid)"));
            return 0;
        }

        var failed = graph.Nodes.Where(n => n.State == "failed").ToArray();
        await stderr.WriteLineAsync($"buildfarm: graph {graph.Id} {graph.State}: {string.Join("; ", failed.Select(n => $"{n.DrvPath}: {n.Reason}"))}");
        if (failed.Any(n => n.FailureKind == "BuildFailure"))
            return 100;
        return failed.Any(n => n.FailureKind == "Timeout") ? 101 : 1;
    }
}
