using System.Globalization;
using Microsoft.Data.Sqlite;

namespace BuildFarm.Soak;

/// <summary>What one check after a fault found; every count is zero on a farm that keeps its promises.</summary>
internal sealed record Findings(int Lost, int Duplicated, int Partial, int Orphans, IReadOnlyList<string> Details)
{
    public bool Clean => Lost + Duplicated + Partial + Orphans == 0;
}

/// <summary>
/// The invariants checked after every fault, once the farm is quiet (no build queued or running):
/// every derivation of the round has its outputs valid in the origin and every build and graph ended (else lost);
/// no derivation was accepted from two attempts (duplicated: an output imported twice, or completed work rebuilt);
/// no store (origin, workers) has an entry on disk without a row or a valid path whose contents fail
/// <c>buildfarm store verify</c> (partial); no build-user process and nothing of a killed process's group is left (orphans).
/// </summary>
internal sealed class Invariants(Farm farm, int seed)
{
    /// <summary>Build users are uids FirstUid.. (src/Worker/Sandbox, default 872415232); a slot's uid never outlives its build.</summary>
    private const long FirstUid = 872415232, UidSpan = 4096;
    private readonly HashSet<string> _seenDuplicates = new(StringComparer.Ordinal);
    // Killed process (its group and session id) → when it was killed. pid_max is 32768 here: within a long run a new
    // process (a restarted worker, its builders) can get a killed one's number, so only processes that started before
    // that kill can be what it left behind.
    private readonly Dictionary<int, long> _killedGroups = [];
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, HashSet<string>> _verified = new(StringComparer.Ordinal);

    public void KilledProcess(int pid) => _killedGroups[pid] = Shell.NowTicks();

    public async Task<int> BuildCountAsync(CancellationToken ct) =>
        (int)(long)(await ScalarAsync(farm.DatabasePath, "SELECT count(*) FROM builds", ct) ?? 0L);

    /// <summary>Waits until the dispatcher has no queued or running build nor running graph (or the limit passes).</summary>
    public async Task QuiesceAsync(TimeSpan limit, CancellationToken ct)
    {
        try
        {
            await Farm.WaitAsync(async () =>
                (long)(await ScalarAsync(farm.DatabasePath,
                    "SELECT (SELECT count(*) FROM builds WHERE state IN ('queued','running')) + (SELECT count(*) FROM graphs WHERE state = 'running')", ct) ?? 1L) == 0,
                limit, "the farm to be quiet", ct);
        }
        catch (TimeoutException)
        {
            // Reported by CheckAsync as lost builds.
        }
    }

    public async Task<Findings> CheckAsync(IEnumerable<string> roundTargets, CancellationToken ct)
    {
        var details = new List<string>();
        var lost = await LostAsync(roundTargets, details, ct);
        var duplicated = await DuplicatedAsync(details, ct);
        var partial = 0;
        // The stores are checked side by side (each `store verify` is a process of its own).
        var checks = new[] { ("origin", farm.OriginRoot) }.Concat(farm.Workers.Select(w => (w, farm.WorkerRoot(w)))).Select(async s =>
        {
            var found = new List<string>();
            return (Count: await PartialAsync(s.Item1, s.Item2, found, ct), Details: found);
        }).ToList();
        foreach (var (count, found) in await Task.WhenAll(checks))
        {
            partial += count;
            details.AddRange(found);
        }
        var orphans = await OrphansAsync(details, ct);
        return new Findings(lost, duplicated, partial, orphans, details);
    }

    private async Task<int> LostAsync(IEnumerable<string> targets, List<string> details, CancellationToken ct)
    {
        var lost = 0;
        var originDb = StoreDatabase(farm.OriginRoot);
        foreach (var target in targets)
        {
            // Every node of every graph that had this target (a re-run's graph too): its outputs must be valid in the origin.
            var outputs = await StringsAsync(farm.DatabasePath,
                "SELECT DISTINCT output_paths FROM graph_nodes WHERE graph_id IN (SELECT graph_id FROM graph_nodes WHERE drv_path = $p AND is_target = 1)", ct, ("$p", target));
            if (outputs.Count == 0)
            {
                lost++;
                details.Add($"lost: no graph ever held {target}");
            }

            foreach (var path in outputs.SelectMany(json => System.Text.Json.JsonDocument.Parse(json).RootElement.EnumerateObject().Select(p => p.Value.GetString()!)).Distinct())
                if (await ScalarAsync(originDb, "SELECT count(*) FROM ValidPaths WHERE path = $p", ct, ("$p", path)) is not long n || n == 0)
                {
                    lost++;
                    details.Add($"lost: {path} (a node of {target}'s graph) is not valid in the origin");
                }
        }

        var unfinished = await RowsAsync(farm.DatabasePath,
            "SELECT id, drv_path, state FROM builds WHERE state IN ('queued','running') OR (state = 'failed' AND coalesce(failure_reason,'') = '')", ct);
        foreach (var u in unfinished)
            details.Add($"lost: build {u[0]} of {u[1]} is {u[2]}{(u[2] == "failed" ? " without a reason" : "")}");
        lost += unfinished.Count;
        var graphs = await RowsAsync(farm.DatabasePath, "SELECT id FROM graphs WHERE state = 'running'", ct);
        foreach (var g in graphs)
            details.Add($"lost: graph {g[0]} is still running");
        lost += graphs.Count;
        return lost;
    }

    private async Task<int> DuplicatedAsync(List<string> details, CancellationToken ct)
    {
        // Accepted twice: two succeeded attempts of one derivation (one build or two), i.e. its outputs imported twice or
        // completed work built again. Counted once per derivation, in the round that first shows it.
        var rows = await RowsAsync(farm.DatabasePath,
            "SELECT b.drv_path, count(*) FROM attempts a JOIN builds b ON b.id = a.build_id WHERE a.outcome = 'succeeded' GROUP BY b.drv_path HAVING count(*) > 1", ct);
        var fresh = rows.Where(r => _seenDuplicates.Add(r[0])).ToList();
        foreach (var r in fresh)
            details.Add($"duplicated: {r[0]} succeeded {r[1]} times");
        return fresh.Count;
    }

    private async Task<int> PartialAsync(string name, string root, List<string> details, CancellationToken ct)
    {
        var storeDir = Path.Combine(root, "nix", "store");
        if (!Directory.Exists(storeDir))
            return 0;
        var valid = (await StringsAsync(StoreDatabase(root), "SELECT path FROM ValidPaths", ct)).ToHashSet(StringComparer.Ordinal);
        var partial = 0;
        foreach (var entry in Directory.EnumerateFileSystemEntries(storeDir))
        {
            var logical = "/nix/store/" + Path.GetFileName(entry);
            if (!valid.Contains(logical))
            {
                partial++;
                details.Add($"partial: {name}: {logical} is on disk but not valid");
            }
        }

        // Contents are verified once per valid path (NAR hash and size): a valid path is never rewritten in place, and
        // verifying every path at every round would grow the check with the run (3,000 paths by fault 500).
        var verified = _verified.GetOrAdd(root, _ => new HashSet<string>(StringComparer.Ordinal));
        verified.IntersectWith(valid);
        var fresh = valid.Except(verified).ToList();
        if (fresh.Count > 0)
        {
            var verify = await Shell.RunAsync(farm.Cli, ["--store-dir", "/nix/store", "--root", root, "store", "verify", .. fresh], ct);
            var problems = verify.Stderr.Split('\n').Where(l => l.StartsWith("buildfarm store verify: /", StringComparison.Ordinal)).ToList();
            partial += problems.Count;
            var bad = problems.ToHashSet(StringComparer.Ordinal);
            verified.UnionWith(fresh.Where(p => !bad.Any(line => line.Contains(p, StringComparison.Ordinal))));
            details.AddRange(problems.Select(p => $"partial: {name}: {p}"));
        }

        return partial;
    }

    private async Task<int> OrphansAsync(List<string> details, CancellationToken ct)
    {
        // A builder outlives a killed worker only as a bug; give exiting processes (ssh clients whose pipes closed) a moment.
        var orphans = new List<string>();
        for (var attempt = 0; attempt < 20; attempt++)
        {
            orphans.Clear();
            foreach (var pid in Shell.AllPids())
            {
                var (state, _, group, session) = Shell.ProcStat(pid);
                if (state.Length == 0 || state == "Z")
                    continue;
                // Other farms on this machine (tests) use the same build uids: a builder is ours when its command
                // line or environment names this soak's derivations.
                if (!IsOurs(pid))
                {
                    if (LeftOf(group, pid) || LeftOf(session, pid))
                        orphans.Add($"orphan: pid {pid} is left of killed process {group}: {CommandLine(pid)}");
                }
                else if (RealUid(pid) is { } uid && uid >= FirstUid && uid < FirstUid + UidSpan)
                    orphans.Add($"orphan: pid {pid} runs as build user {uid}: {CommandLine(pid)}");
                else if (CommandLine(pid) is var line && line.Contains(" sh -c ", StringComparison.Ordinal))
                    orphans.Add($"orphan: pid {pid} is a soak builder outliving its build: {line}");
            }

            if (orphans.Count == 0)
                break;
            await Task.Delay(250, ct);
        }

        details.AddRange(orphans);
        return orphans.Count;
    }

    /// <summary>Whether PID, in group or session ID, started before the process of that number was killed.</summary>
    private bool LeftOf(int id, int pid) =>
        _killedGroups.TryGetValue(id, out var killedAt) && Shell.StartTicks(pid) is { } started && started <= killedAt;

    private bool IsOurs(int pid)
    {
        var marker = $"soak-{seed}-";
        if (CommandLine(pid).Contains(marker, StringComparison.Ordinal))
            return true;
        try
        {
            return File.ReadAllText($"/proc/{pid}/environ").Contains(marker, StringComparison.Ordinal);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    private static long? RealUid(int pid)
    {
        try
        {
            var line = File.ReadLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith("Uid:", StringComparison.Ordinal));
            return line is null ? null : long.Parse(line.Split('\t', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
        }
        catch (IOException)
        {
            return null;
        }
    }

    private static string CommandLine(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' ').Trim();
        }
        catch (IOException)
        {
            return "?";
        }
    }

    private static string StoreDatabase(string root) => Path.Combine(root, "nix", "var", "buildfarm", "store.db");

    private static SqliteConnection Open(string file)
    {
        var c = new SqliteConnection($"Data Source={file};Mode=ReadOnly;Pooling=False;Default Timeout=30");
        c.Open();
        return c;
    }

    private static async Task<object?> ScalarAsync(string file, string sql, CancellationToken ct, params (string, object)[] args)
    {
        using var c = Open(file);
        using var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        foreach (var (k, v) in args)
            cmd.Parameters.AddWithValue(k, v);
        return await cmd.ExecuteScalarAsync(ct);
    }

    private static async Task<List<string>> StringsAsync(string file, string sql, CancellationToken ct, params (string, object)[] args) =>
        [.. (await RowsAsync(file, sql, ct, args)).Select(r => r[0])];

    private static async Task<List<string[]>> RowsAsync(string file, string sql, CancellationToken ct, params (string, object)[] args)
    {
        using var c = Open(file);
        using var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        foreach (var (k, v) in args)
            cmd.Parameters.AddWithValue(k, v);
        using var r = await cmd.ExecuteReaderAsync(ct);
        var rows = new List<string[]>();
        while (await r.ReadAsync(ct))
            rows.Add([.. Enumerable.Range(0, r.FieldCount).Select(i => r.IsDBNull(i) ? "" : Convert.ToString(r.GetValue(i), CultureInfo.InvariantCulture)!)]);
        return rows;
    }
}
