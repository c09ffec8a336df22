using System.Diagnostics;
using System.Globalization;

namespace BuildFarm.Soak;

/// <summary>
/// The soak: rounds until FAULTS faults were injected; in each, two `buildfarm build` clients build a fresh pair of
/// graphs while one fault of the seeded schedule hits the farm; then, with the farm quiet, the invariants are checked.
/// A fault whose moment never came (no fetch while a disk-full-at-fetch was armed) is "not reached" and does not
/// count, so a run of 500 injects 500 (stop 25's run of 500 rounds injected 491). Ends with the table of fault kinds
/// and the one summary line.
/// </summary>
internal sealed class SoakRun(SoakOptions o)
{
    private const int MaxClientRuns = 8;
    private readonly Dictionary<FaultKind, (int Injected, int Recovered, int NotReached, int Violations)> _table = [];

    public async Task<int> RunAsync(CancellationToken ct)
    {
        using var farm = new Farm(o.FarmDir, o.BinDir, o.Workers);
        var invariants = new Invariants(farm, o.Seed);
        var random = new Random(o.Seed);
        var faults = new Faults(farm, invariants, o.HoldDir, random, o);
        var graphs = new Graphs(farm, o.WorkDir, o.Seed);
        await farm.SetLeaseAsync(o.Lease, ct);
        await graphs.PrepareAsync(ct);
        await farm.WaitWorkersOnlineAsync(ct);
        int lost = 0, duplicated = 0, partial = 0, orphans = 0, injected = 0, reruns = 0;
        Log($"soak: {o.Faults} faults, seed {o.Seed}, lease {o.Lease.TotalSeconds} s, farm {o.FarmDir}");
        var started = Stopwatch.StartNew();
        // Twice as many rounds at most: a schedule whose faults are mostly not reached must still end.
        for (var round = 1; injected < o.Faults && round <= 2 * o.Faults; round++)
        {
            if (o.Budget is { } budget && started.Elapsed > budget)
            {
                Log($"soak: time budget of {budget.TotalMinutes} min spent after {round - 1} rounds; stopping");
                break;
            }

            var clock = Stopwatch.StartNew();
            var kind = faults.Next();
            var inject = faults.Plan(kind);
            // A round that does not end within RoundLimit (a stuck farm: a client waiting on a graph that never
            // moves) fails the run with the stage it was in, instead of hanging it.
            using var limit = CancellationTokenSource.CreateLinkedTokenSource(ct);
            limit.CancelAfter(o.RoundLimit);
            var stage = "preparing the fault";
            // Where the round's time goes (graphs written, fault and clients, undo, quiet, checks), for the log line.
            var spent = new List<string>();
            var lap = Stopwatch.StartNew();
            void Lap(string what)
            {
                spent.Add(string.Create(CultureInfo.InvariantCulture, $"{what} {lap.Elapsed.TotalSeconds:0.0}"));
                lap.Restart();
            }

            try
            {
                // Before the graphs: a restart it needs (w1 into its namespace) must not eat the round's builds.
                await faults.PrepareAsync(kind, limit.Token);
                stage = "writing the round's graphs";
                var (a, b) = await graphs.NextAsync(round, limit.Token);
                Lap("graphs");
                stage = "injecting the fault while the clients build";
                var clients = new[] { BuildAsync(farm, a, limit.Token), BuildAsync(farm, b, limit.Token) };
                Injection injection;
                try
                {
                    injection = await inject(limit.Token);
                }
                catch (Exception e) when (e is TimeoutException or InvalidOperationException or IOException)
                {
                    injection = new Injection(true, $"injection failed: {e.Message}");
                }

                stage = "waiting for the clients (`buildfarm build`) to end";
                var runs = await Task.WhenAll(clients);
                Lap("fault+clients");
                var undone = "";
                if (injection.Undo is { } undo)
                {
                    stage = "undoing the fault";
                    undone = "; " + await undo(limit.Token);
                    Lap("undo");
                }

                reruns += runs.Sum(r => r.Runs - 1);
                stage = "waiting for the farm to be quiet";
                await invariants.QuiesceAsync(TimeSpan.FromMinutes(2), limit.Token);
                Lap("quiet");
                stage = "checking the invariants";
                var findings = await invariants.CheckAsync([.. a.Targets, .. b.Targets], limit.Token);
                Lap("checks");
                var clientFailures = runs.Count(r => !r.Completed);
                lost += findings.Lost + clientFailures;
                duplicated += findings.Duplicated;
                partial += findings.Partial;
                orphans += findings.Orphans;
                var clean = findings.Clean && clientFailures == 0;
                var row = _table.GetValueOrDefault(kind);
                _table[kind] = injection.Reached
                    ? (row.Injected + 1, row.Recovered + (clean ? 1 : 0), row.NotReached, row.Violations + (clean ? 0 : 1))
                    : (row.Injected, row.Recovered, row.NotReached + 1, row.Violations + (clean ? 0 : 1));
                if (injection.Reached)
                    injected++;
                Log($"round {round} (fault {injected}/{o.Faults}): {Faults.Label(kind)}: {injection.What}{undone}; clients ran {string.Join('+', runs.Select(r => r.Runs))} time(s); " +
                    $"{(clean ? "invariants hold" : "VIOLATED")} ({clock.Elapsed.TotalSeconds:0.0} s: {string.Join(", ", spent)})");
                foreach (var d in findings.Details)
                    Log("  " + d);
                foreach (var r in runs.Where(r => !r.Completed))
                    Log($"  lost: graph {r.Graph} did not complete after {r.Runs} runs: {r.Last}");
            }
            catch (OperationCanceledException) when (limit.IsCancellationRequested && !ct.IsCancellationRequested)
            {
                // Counted as one lost graph at least; the farm is left as it is for the post-mortem (KEEP=1).
                Log($"round {round} (fault {injected + 1}/{o.Faults}): {Faults.Label(kind)}: STUCK: the round did not end within {o.RoundLimit.TotalMinutes:0.#} min " +
                    $"(--round-minutes), while {stage}; stopping the run");
                var row = _table.GetValueOrDefault(kind);
                _table[kind] = (row.Injected + 1, row.Recovered, row.NotReached, row.Violations + 1);
                injected++;
                lost++;
                break;
            }
        }

        var builds = await invariants.BuildCountAsync(ct);
        PrintTable(reruns);
        Console.WriteLine($"faults {injected}, builds {builds}, lost {lost}, duplicated {duplicated}, partial {partial}, orphans {orphans}");
        return lost + duplicated + partial + orphans == 0 ? 0 : 1;
    }

    private sealed record ClientRun(string Graph, bool Completed, int Runs, string Last);

    /// <summary>
    /// One `buildfarm build` of a graph's targets; when it ends without the graph done (the dispatcher died under it),
    /// it runs again, as a user would: the graph lives in the dispatcher, a re-run builds only what is missing.
    /// </summary>
    private static async Task<ClientRun> BuildAsync(Farm farm, GraphSpec graph, CancellationToken ct)
    {
        var last = "";
        for (var run = 1; run <= MaxClientRuns; run++)
        {
            var r = await Shell.RunAsync(farm.Cli, ["build", "--url", farm.Url, .. graph.Targets], ct, timeout: TimeSpan.FromMinutes(5));
            if (r.ExitCode == 0)
                return new ClientRun(graph.Name, true, run, "");
            last = $"exit {r.ExitCode}: {r.Tail}";
            await Farm.WaitAsync(() => farm.HealthyAsync(ct), TimeSpan.FromMinutes(2), "the dispatcher to come back", ct);
            await Task.Delay(500, ct);
        }

        return new ClientRun(graph.Name, false, MaxClientRuns, last);
    }

    private void PrintTable(int reruns)
    {
        Console.WriteLine();
        Console.WriteLine($"{"fault",-48} {"injected",8} {"recovered",9} {"violated",8} {"not reached",11}");
        foreach (var kind in Enum.GetValues<FaultKind>())
        {
            var r = _table.GetValueOrDefault(kind);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{Faults.Label(kind),-48} {r.Injected,8} {r.Recovered,9} {r.Violations,8} {r.NotReached,11}"));
        }

        Console.WriteLine($"(`buildfarm build` re-runs after a client lost its dispatcher: {reruns})");
    }

    private static void Log(string line) => Console.Error.WriteLine($"[{DateTime.UtcNow:HH:mm:ss}] {line}");
}
