using System.Globalization;
using System.Text.Json;

namespace BuildFarm.Soak;

/// <summary>
/// The faults of a worker's surroundings rather than its processes: its link to the origin cut (network namespace),
/// its disk full (tmpfs), its clock off. Each checks that the worker said so in /api/workers (paused itself, with the
/// reason; the measured skew) and that it claims again once the cause is gone.
/// </summary>
internal sealed partial class Faults
{
    private static readonly TimeSpan StateLimit = TimeSpan.FromSeconds(40);

    /// <summary>
    /// Holds the namespace worker at PHASE (inside an SSH session with the origin), cuts it from the origin's sshd on
    /// its veth, lets it go on into the cut for CUT, then restores the link. Two kinds of cut, drawn from the seed: a
    /// refusing link (every packet to sshd answered with a TCP reset: the open session breaks, every retry is refused,
    /// the retry budget is spent, the build fails over) or a BLACKHOLE (both directions dropped, as a pulled cable: TCP
    /// retransmits and the open stream waits).
    /// </summary>
    private async Task<Injection> CutNetworkAsync(string phase, TimeSpan cut, bool blackhole, CancellationToken ct)
    {
        var worker = options.NetnsWorker!;
        var at = await HoldAsync(phase, "hold", ct, only: worker);
        if (at is null)
            return new Injection(false, $"{worker} did not reach {phase} within {ReachLimit.TotalSeconds} s");
        var port = farm.SshdPort;
        var rules = blackhole
            ? $$"""
                table inet {{options.CutTable}} {
                  chain in { type filter hook input priority 0; iifname "{{options.Veth}}" tcp dport {{port}} drop; }
                  chain out { type filter hook output priority 0; oifname "{{options.Veth}}" tcp sport {{port}} drop; }
                }
                """
            : $$"""
                table inet {{options.CutTable}} {
                  chain in { type filter hook input priority 0; iifname "{{options.Veth}}" tcp dport {{port}} reject with tcp reset; }
                }
                """;
        await NftAsync(rules, ct);
        string paused;
        try
        {
            Release(phase);
            var since = System.Diagnostics.Stopwatch.StartNew();
            paused = await WaitNoteAsync(worker, "origin", cut, ct)
                ? "paused itself (origin unreachable)"
                : blackhole ? "not paused (its stream waits for the link)" : "NOT seen paused";
            if (cut > since.Elapsed)
                await Task.Delay(cut - since.Elapsed, ct);
        }
        finally
        {
            await Shell.RunAsync("nft", ["delete", "table", "inet", options.CutTable!], CancellationToken.None);
        }

        var resumed = await WaitUnpausedAsync(worker, ct) ? "claims again" : "STILL PAUSED";
        return new Injection(true, $"{(blackhole ? "blackholed" : "cut (reset)")} {worker} from the origin at {phase} of {Short(at.Value.Drv)} for {cut.TotalSeconds:0.0} s: {paused}, {resumed}");
    }

    /// <summary>
    /// Holds the tmpfs worker at PHASE, fills its file system to the last byte, lets it go on into the full disk; after
    /// DOWN deletes the filler (space returns).
    /// </summary>
    private async Task<Injection> DiskFullAsync(string phase, TimeSpan down, CancellationToken ct)
    {
        var worker = options.DiskWorker!;
        var at = await HoldAsync(phase, "hold", ct, only: worker);
        if (at is null)
            return new Injection(false, $"{worker} did not reach {phase} within {ReachLimit.TotalSeconds} s");
        var filler = Path.Combine(options.DiskMount!, "soak-filler");
        string paused;
        try
        {
            await FillAsync(filler, ct);
            Release(phase);
            paused = await WaitNoteAsync(worker, "disk full", StateLimit, ct) ? "paused itself (disk full)" : "NOT seen paused";
            await Task.Delay(down, ct);
        }
        finally
        {
            File.Delete(filler);
        }

        // A worker that died of its full disk is a finding; it is started again so the round can end.
        var died = "";
        if (!Shell.Alive(farm.Pid(Farm.WorkerProcess(worker))))
        {
            died = "; the worker DIED, restarted";
            await farm.StartAsync(Farm.WorkerProcess(worker), ct);
            await farm.WaitWorkersOnlineAsync(ct);
        }

        var resumed = await WaitUnpausedAsync(worker, ct) ? "claims again" : "STILL PAUSED";
        return new Injection(true, $"filled {worker}'s disk at {phase} of {Short(at.Value.Drv)} for {down.TotalSeconds:0.0} s: {paused}, {resumed}{died}");
    }

    /// <summary>
    /// Restarts WORKER (SIGTERM: it drains) with its clock SKEW off the machine's (BUILDFARM_TEST_CLOCK_OFFSET_SECONDS)
    /// for the rest of the round; the undo restarts it with the right clock.
    /// </summary>
    private async Task<Injection> SkewClockAsync(string worker, TimeSpan skew, CancellationToken ct)
    {
        var process = Farm.WorkerProcess(worker);
        await farm.StopWorkerAsync(worker, ct);
        WorkerEnvironment(worker)[ClockOffset] = skew.TotalSeconds.ToString(CultureInfo.InvariantCulture);
        await farm.StartAsync(process, ct);
        await farm.WaitWorkersOnlineAsync(ct);
        var measured = "not measured";
        try
        {
            await Farm.WaitAsync(async () =>
            {
                if (await farm.ApiWorkerAsync(worker, ct) is { } w && w.TryGetProperty("clockSkewSeconds", out var s) && s.ValueKind == JsonValueKind.Number
                    && Math.Abs(s.GetDouble() - skew.TotalSeconds) < 30)
                {
                    measured = $"dispatcher measures {s.GetDouble():0} s";
                    return true;
                }

                return false;
            }, StateLimit, $"the dispatcher to measure {worker}'s clock", ct);
        }
        catch (TimeoutException)
        {
            measured = "the dispatcher did NOT measure it";
        }

        return new Injection(true, $"{worker}'s clock {skew.TotalSeconds:+0;-0} s off ({measured})", async undoCt =>
        {
            var note = await farm.ApiWorkerAsync(worker, undoCt) is { } w && w.TryGetProperty("note", out var n) && n.ValueKind == JsonValueKind.String ? n.GetString() : null;
            WorkerEnvironment(worker).Remove(ClockOffset);
            await farm.StopWorkerAsync(worker, undoCt);
            await farm.StartAsync(process, undoCt);
            await farm.WaitWorkersOnlineAsync(undoCt);
            return note is not null && note.Contains("clock behind", StringComparison.Ordinal) ? "it had paused itself (clock behind), clock restored" : "clock restored";
        });
    }

    /// <summary>Whether /api/workers shows WORKER paused with TEXT in its note within LIMIT.</summary>
    private async Task<bool> WaitNoteAsync(string worker, string text, TimeSpan limit, CancellationToken ct)
    {
        try
        {
            await Farm.WaitAsync(async () => await farm.ApiWorkerAsync(worker, ct) is { } w && w.GetProperty("paused").GetBoolean()
                && w.TryGetProperty("note", out var n) && n.ValueKind == JsonValueKind.String && n.GetString()!.Contains(text, StringComparison.Ordinal),
                limit, $"{worker} to pause itself ({text})", ct);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }

    private async Task<bool> WaitUnpausedAsync(string worker, CancellationToken ct)
    {
        try
        {
            await Farm.WaitAsync(async () => await farm.ApiWorkerAsync(worker, ct) is { } w && w.GetProperty("online").GetBoolean() && !w.GetProperty("paused").GetBoolean(),
                StateLimit, $"{worker} to claim builds again", ct);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }

    private static async Task NftAsync(string rules, CancellationToken ct)
    {
        var file = Path.GetTempFileName();
        try
        {
            await File.WriteAllTextAsync(file, rules, ct);
            var r = await Shell.RunAsync("nft", ["-f", file], ct);
            if (r.ExitCode != 0)
                throw new InvalidOperationException($"nft -f: {r.Tail}");
        }
        finally
        {
            File.Delete(file);
        }
    }

    /// <summary>Writes FILE until its file system says ENOSPC.</summary>
    private static async Task FillAsync(string file, CancellationToken ct)
    {
        var chunk = new byte[1 << 20];
        try
        {
            await using var f = new FileStream(file, FileMode.Create, FileAccess.Write, FileShare.ReadWrite, 1, FileOptions.None);
            while (true)
                await f.WriteAsync(chunk, ct);
        }
        catch (IOException)
        {
        }

        // The last partial megabyte: fill what remains a page at a time.
        try
        {
            await using var f = new FileStream(file, FileMode.Append, FileAccess.Write, FileShare.ReadWrite, 1, FileOptions.None);
            var page = new byte[4096];
            while (true)
                await f.WriteAsync(page, ct);
        }
        catch (IOException)
        {
        }
    }

    /// <summary>
    /// Restarts the namespace worker inside its network namespace (run.sh made it: veth to the host, DNAT of the farm's
    /// ports), with a short origin retry budget (2 retries from 0.5 s, 3 s to connect: about 2 s in all) so the network
    /// cut outlasts it within a round, and a 5 s circuit break. Done before the round of the first cut (a restart costs a run without one
    /// nothing); from then on the other faults hit it there too.
    /// </summary>
    public async Task PrepareAsync(FaultKind kind, CancellationToken ct)
    {
        if (kind == FaultKind.NetworkCut)
            await EnsureInNamespaceAsync(ct);
    }

    private async Task EnsureInNamespaceAsync(CancellationToken ct)
    {
        if (options.NetnsWorker is not { } worker || options.Netns is not { } ns || farm.Namespaces.ContainsKey(worker))
            return;
        var config = farm.WorkerConfig(worker);
        var json = System.Text.Json.Nodes.JsonNode.Parse(await File.ReadAllTextAsync(config, ct))!.AsObject();
        var origins = json["origins"]?.AsObject() ?? throw new InvalidOperationException($"{config} has no origins section");
        origins["maxRetryAttempts"] = 2;
        origins["retryBaseDelay"] = "00:00:00.5";
        origins["retryMaxDelay"] = "00:00:01";
        origins["connectTimeout"] = "00:00:03";
        // Its circuit, open after the cut's refusals, lets a probe through after 5 s instead of 30 s: the worker claims
        // again soon after the link is back.
        origins["circuitBreakDuration"] = "00:00:05";
        await File.WriteAllTextAsync(config, json.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }), ct);
        await farm.StopWorkerAsync(worker, ct);
        farm.Namespaces[worker] = ns;
        await farm.StartAsync(Farm.WorkerProcess(worker), ct);
        await farm.WaitWorkersOnlineAsync(ct);
        Console.Error.WriteLine($"[{DateTime.UtcNow:HH:mm:ss}] soak: {worker} runs in network namespace {ns} from now on");
    }
}
