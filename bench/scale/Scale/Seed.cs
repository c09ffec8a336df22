using System.Diagnostics;
using System.Globalization;
using BuildFarm.Contracts.Builds;
using BuildFarm.Contracts.Workers;
using BuildFarm.Dispatcher.Graphs;
using BuildFarm.Dispatcher.Lifecycle;
using BuildFarm.Store.Derivations;
using BuildFarm.Store.Paths;

namespace BuildFarm.Scale;

/// <summary>
/// <c>buildfarm-scale seed DB [--builds N] [--queued Q] [--running R] [--graph DEPTHxWIDTH] [--span-minutes M]</c>:
/// a dispatcher database with N stored builds in a minute instead of a 20-minute run. The database is opened with the
/// dispatcher's own <see cref="LifecycleDatabase"/> (its migrations, triggers and indexes) and written only through
/// the dispatcher's table code (BuildTable, AttemptTable, LogTable, OutputTable, WaiterTable, GraphTable, WorkerTable),
/// in the order the lifecycle writes them: insert, publish, claim, log, finish. Nothing is running when it is done
/// except the R claims, whose leases are a week long so a dispatcher started on the copy keeps them.
/// What is stored: 100 workers (w001…, the load generator's capabilities), two DEPTH×WIDTH graphs (one succeeded,
/// one running: its lower 60 % succeeded, one layer submitted, the rest waiting), 50 small graphs of 20 nodes, and
/// standalone builds; every 20th finished build failed, every 100th was cancelled, every 25th needed a second attempt
/// (the first lost), each started one has two log chunks, each succeeded one its output. Submissions are spread
/// evenly over the last M minutes (default 20) up to now, the open ones newest, so the charts' windows are full.
/// </summary>
internal static class Seed
{
    private const int Workers = 100;
    private const int SmallGraphs = 50;
    private const int SmallGraphNodes = 20;
    private const int Batch = 2_000;

    private sealed record Plan(int Index, string DrvPath, string DrvText, string OutPath, string System, string[] Features, string State, Guid Id, string Waiter)
    {
        public bool Started => State is BuildState.Running or BuildState.Succeeded or BuildState.Failed;
    }

    public static async Task<int> RunAsync(string[] args, CancellationToken ct)
    {
        var path = args[0];
        int Option(string name, int fallback) =>
            Array.IndexOf(args, name) is var i and >= 0 ? int.Parse(args[i + 1], CultureInfo.InvariantCulture) : fallback;
        var builds = Option("--builds", 100_000);
        var queued = Option("--queued", 15_000);
        var running = Option("--running", 200);
        var span = TimeSpan.FromMinutes(Option("--span-minutes", 20));
        var graph = Array.IndexOf(args, "--graph") is var g and >= 0 ? args[g + 1] : "100x100";
        var depth = int.Parse(graph[..graph.IndexOf('x', StringComparison.Ordinal)], CultureInfo.InvariantCulture);
        var width = int.Parse(graph[(graph.IndexOf('x', StringComparison.Ordinal) + 1)..], CultureInfo.InvariantCulture);
        if (File.Exists(path))
            throw new InvalidOperationException($"{path} exists: seed writes a new database only");

        var clock = Stopwatch.StartNew();
        var now = DateTimeOffset.UtcNow;
        var start = now - span;
        var nonce = Guid.NewGuid().ToString("N")[..8];
        var compiler = new DerivationSpecCompiler(StoreDirectory.Nix, (p, _) => throw new InvalidOperationException($"no input {p}"));

        // --- what to store, in submission order -------------------------------------------------------------------
        var plans = new List<Plan>(builds);
        async Task<Plan> NewAsync(string name, int classIndex, string state, string waiter, Guid? id = null)
        {
            var (system, features) = Classes.Of(classIndex);
            var c = await compiler.CompileAsync(new DerivationSpec
            {
                Name = name,
                System = system,
                Builder = "/bin/sh",
                Args = ["-c", $"echo {name} > $out"],
                RequiredSystemFeatures = features.Length == 0 ? null : [.. features],
            }, ct);
            var p = new Plan(plans.Count, c.DrvPath.FullPath, c.Aterm, c.Derivation.Outputs["out"].Path!.FullPath, system, features, state, id ?? Guid.NewGuid(), waiter);
            plans.Add(p);
            return p;
        }

        string FinishedState(int i) => i % 100 == 99 ? BuildState.Cancelled : i % 20 == 19 ? BuildState.Failed : BuildState.Succeeded;

        var graphs = new List<(GraphRecord Graph, List<GraphNodeRecord> Nodes, int FirstBuild)>();
        async Task AddGraphAsync(int d, int w, int succeededLayers, bool finished, int openRunning)
        {
            var id = Guid.NewGuid();
            var firstBuild = plans.Count;
            var nodes = new List<GraphNodeRecord>();
            var layerPaths = new List<string[]>();
            for (var l = 0; l < d; l++)
            {
                var layer = new string[w];
                for (var i = 0; i < w; i++)
                {
                    string[] deps = l == 0 ? [] : [layerPaths[l - 1][i], layerPaths[l - 1][(i + 1) % w]];
                    var name = $"graph-{nonce}-{graphs.Count}-{l}-{i}";
                    string nodeState;
                    Plan? p = null;
                    if (l < succeededLayers)
                    {
                        p = await NewAsync(name, l * w + i, BuildState.Succeeded, WaiterTable.GraphPrefix + id);
                        nodeState = GraphNodeState.Succeeded;
                    }
                    else if (l == succeededLayers)
                    {
                        p = await NewAsync(name, l * w + i, i < openRunning ? BuildState.Running : BuildState.Queued, WaiterTable.GraphPrefix + id);
                        nodeState = GraphNodeState.Submitted;
                    }
                    else
                    {
                        // Waiting: no build yet; its path as the compiler would make it, without a row.
                        var (system, features) = Classes.Of(l * w + i);
                        var c = await compiler.CompileAsync(new DerivationSpec
                        {
                            Name = name, System = system, Builder = "/bin/sh", Args = ["-c", $"echo {name} > $out"],
                            RequiredSystemFeatures = features.Length == 0 ? null : [.. features],
                        }, ct);
                        layer[i] = c.DrvPath.FullPath;
                        nodes.Add(new GraphNodeRecord(id, layer[i], deps, ["out"], new Dictionary<string, string> { ["out"] = c.Derivation.Outputs["out"].Path!.FullPath },
                            l == d - 1, GraphNodeState.Waiting, null, null));
                        continue;
                    }

                    layer[i] = p.DrvPath;
                    nodes.Add(new GraphNodeRecord(id, p.DrvPath, deps, ["out"], new Dictionary<string, string> { ["out"] = p.OutPath }, l == d - 1, nodeState, p.Id, null));
                }

                layerPaths.Add(layer);
            }

            var targets = nodes.Where(n => n.IsTarget).Select(n => n.DrvPath).ToArray();
            graphs.Add((new GraphRecord(id, targets, false, 0, TimeSpan.Zero, TimeSpan.Zero, false, finished ? "succeeded" : "running", start, finished ? now : null), nodes, firstBuild));
        }

        // One big graph done, small ones done, standalone builds finished, then the big running graph and the open builds.
        await AddGraphAsync(depth, width, depth, finished: true, 0);
        for (var k = 0; k < SmallGraphs; k++)
            await AddGraphAsync(SmallGraphNodes / 2, 2, SmallGraphNodes / 2, finished: true, 0);
        var bigRunningNodes = depth * 6 / 10 * width + width;
        var finishedStandalone = builds - plans.Count - bigRunningNodes - Math.Max(0, queued - (width - Math.Min(running, width))) - Math.Max(0, running - width);
        for (var i = 0; i < finishedStandalone; i++)
            await NewAsync($"scale-{nonce}-{i}", i, FinishedState(i), WaiterTable.SubmitPrefix + Guid.NewGuid().ToString("N"));
        await AddGraphAsync(depth, width, depth * 6 / 10, finished: false, Math.Min(running, width));
        var openRunning = running - Math.Min(running, width);
        var openQueued = builds - plans.Count - openRunning;
        for (var i = 0; i < openRunning + openQueued; i++)
            await NewAsync($"scale-open-{nonce}-{i}", i, i < openRunning ? BuildState.Running : BuildState.Queued, WaiterTable.SubmitPrefix + Guid.NewGuid().ToString("N"));
        Console.Error.WriteLine($"[seed] {plans.Count} derivations compiled in {clock.Elapsed.TotalSeconds:0.0} s");

        // --- written through the dispatcher's own schema and table code ------------------------------------------
        await using var db = await LifecycleDatabase.OpenAsync(path, ct);
        await db.RunAsync(async s =>
        {
            for (var w = 0; w < Workers; w++)
            {
                await WorkerTable.UpsertAsync(s, new WorkerStatusReported($"w{w + 1:000}", Classes.Worker(w, 2), [], 0.5, 100L << 30, "seed", false, false, null, now,
                    new WorkerIsolation(BuildIsolation.Sandboxed, "seeded")), now);
            }
        }, ct);

        var step = span / plans.Count;
        foreach (var chunk in plans.Chunk(Batch))
        {
            await db.RunAsync(async s =>
            {
                foreach (var p in chunk)
                    await WriteAsync(s, p, start + step * p.Index, now);
            }, ct);
        }

        await db.RunAsync(async s =>
        {
            foreach (var (record, nodes, firstBuild) in graphs)
            {
                // Created when its first build was submitted: the running graph is the newest.
                await GraphTable.InsertAsync(s, record with { State = "running", CreatedAt = start + step * firstBuild }, nodes);
                if (record.State != "running")
                    await GraphTable.FinishAsync(s, record.Id, record.State, record.FinishedAt!.Value);
            }
        }, ct);
        var counts = string.Join(", ", plans.GroupBy(p => p.State).OrderBy(x => x.Key, StringComparer.Ordinal).Select(x => $"{x.Count()} {x.Key}"));
        Console.Error.WriteLine($"[seed] {plans.Count} builds ({counts}), {graphs.Count} graphs ({graphs.Sum(x => x.Nodes.Count)} nodes) in {path} in {clock.Elapsed.TotalSeconds:0.0} s");
        return 0;
    }

    private static async Task WriteAsync(DbSession s, Plan p, DateTimeOffset submitted, DateTimeOffset now)
    {
        var record = new BuildRecord(p.Id, p.DrvPath, p.DrvText, StoreDirectory.Nix.Path, p.System, p.Features, ["out"], BuildState.Queued, 1, false, null, null, 0,
            TimeSpan.Zero, TimeSpan.Zero, false, null, null, null, submitted, null, null, null, false);
        await BuildTable.InsertAsync(s, record);
        await WaiterTable.AddAsync(s, p.Id, p.Waiter, joined: false);
        await BuildTable.MarkPublishedAsync(s, p.Id, 1, submitted.AddMilliseconds(5));
        var worker = $"w{p.Index % Workers + 1:000}";
        var attempt = 1;
        var started = submitted.AddMilliseconds(50 + p.Index % 200);
        if (p.Started && p.Index % 25 == 24)
        {
            // A first attempt lost with its worker, as the lease sweep records it, then published again.
            var lostOn = $"w{(p.Index + 1) % Workers + 1:000}";
            await BuildTable.ClaimAsync(s, p.Id, lostOn, started, started.AddSeconds(15), BuildIsolation.Sandboxed);
            await AttemptTable.InsertAsync(s, p.Id, 1, lostOn, started, null, "running", null, null, BuildIsolation.Sandboxed);
            await AttemptTable.FinishAsync(s, p.Id, 1, lostOn, started.AddSeconds(15), "lost", $"lease of worker {lostOn} expired", null);
            await BuildTable.RequeueAsync(s, p.Id, 2);
            await BuildTable.MarkPublishedAsync(s, p.Id, 2, started.AddSeconds(15));
            attempt = 2;
            started = started.AddSeconds(16);
        }

        if (p.State == BuildState.Cancelled)
        {
            await WaiterTable.LeaveAsync(s, p.Id, p.Waiter, submitted.AddSeconds(1));
            await BuildTable.FinishAsync(s, p.Id, BuildState.Cancelled, null, "cancelled by the seed", null, null, submitted.AddSeconds(1));
            return;
        }

        if (!p.Started)
            return;
        var lease = p.State == BuildState.Running ? now.AddDays(7) : started.AddSeconds(15);
        await BuildTable.ClaimAsync(s, p.Id, worker, started, lease, BuildIsolation.Sandboxed);
        await AttemptTable.InsertAsync(s, p.Id, attempt, worker, started, null, "running", null, null, BuildIsolation.Sandboxed);
        await LogTable.AppendAsync(s, p.Id, attempt, worker, 0, $"building '{p.DrvPath}'\n", 10 << 20);
        await LogTable.AppendAsync(s, p.Id, attempt, worker, 1, string.Concat(Enumerable.Repeat("compiling things and writing them out\n", 20)), 10 << 20);
        if (p.State == BuildState.Running)
            return;
        var finished = started.AddMilliseconds(500 + p.Index % 3000);
        if (p.State == BuildState.Succeeded)
        {
            await OutputTable.InsertAsync(s, p.Id, [new BuiltOutput("out", p.OutPath, "sha256:1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s", 128, [], [$"{worker}:c2VlZA=="])]);
            await AttemptTable.FinishAsync(s, p.Id, attempt, worker, finished, "succeeded", null, 0);
            await BuildTable.FinishAsync(s, p.Id, BuildState.Succeeded, null, null, 0, worker, finished);
            await WorkerTable.CountAsync(s, worker, succeeded: true);
        }
        else
        {
            await AttemptTable.FinishAsync(s, p.Id, attempt, worker, finished, nameof(BuildFailureKind.BuildFailure), "builder exited with code 1", 1);
            await BuildTable.FinishAsync(s, p.Id, BuildState.Failed, nameof(BuildFailureKind.BuildFailure), $"BuildFailure on {worker}: builder exited with code 1", 1, worker, finished);
            await WorkerTable.CountAsync(s, worker, succeeded: false);
        }
    }
}
