namespace BuildFarm.Soak;

/// <summary>The faults the soak injects (issue #16, section 1).</summary>
internal enum FaultKind
{
    WorkerKillFetch,
    WorkerKillBuild,
    WorkerKillUpload,
    WorkerKillBeforePublish,
    DispatcherKill,
    BrokerKillPublish,
    SshdStopTransfer,
    NetworkCut,
    DiskFullFetch,
    DiskFullBuild,
    ClockSkew,
    WorkerUpgrade,
}

/// <summary>
/// What happened to one injection: whether it hit the named point, and a line for the log. <see cref="Undo"/>, when
/// set, runs once the round's clients ended (a fault that lasts the whole round: the skewed clock) and says what it saw.
/// </summary>
internal sealed record Injection(bool Reached, string What, Func<CancellationToken, Task<string>>? Undo = null);

/// <summary>
/// Injects one fault into the running farm at a point of a round. Worker phases come from the worker's test-only
/// phase hold (<c>BUILDFARM_TEST_PHASE_HOLD_DIR</c>, src/Worker/Execution/PhaseHold.cs): the harness asks every
/// worker to stop at a phase, the first to get there is the victim, the rest are let go. Every delay comes from the
/// seeded random source, so a seed replays the same schedule (the farm's own timing still varies).
/// </summary>
internal sealed partial class Faults(Farm farm, Invariants invariants, string holdDir, Random random, SoakOptions options)
{
    private static readonly TimeSpan ReachLimit = TimeSpan.FromSeconds(30);

    public static string Label(FaultKind kind) => kind switch
    {
        FaultKind.WorkerKillFetch => "kill -9 worker while it fetches inputs",
        FaultKind.WorkerKillBuild => "kill -9 worker while it builds",
        FaultKind.WorkerKillUpload => "kill -9 worker while it uploads",
        FaultKind.WorkerKillBeforePublish => "kill -9 worker after upload, before publish",
        FaultKind.DispatcherKill => "kill -9 dispatcher mid-graph, restart",
        FaultKind.BrokerKillPublish => "kill -9 broker mid-publish, restart",
        FaultKind.SshdStopTransfer => "stop sshd mid-transfer, restart",
        FaultKind.NetworkCut => "network cut worker-origin past retry budget",
        FaultKind.DiskFullFetch => "disk full on a worker while it fetches",
        FaultKind.DiskFullBuild => "disk full on a worker while it builds",
        FaultKind.ClockSkew => "worker clock minutes off for a round",
        FaultKind.WorkerUpgrade => "worker upgraded or rolled back, under load",
        _ => kind.ToString(),
    };

    /// <summary>The next kind; one whose setup is missing (no namespace or tmpfs worker) is drawn again, from the same seed.</summary>
    public FaultKind Next()
    {
        while (true)
        {
            var kind = (FaultKind)random.Next(Enum.GetValues<FaultKind>().Length);
            if (Possible(kind))
                return kind;
        }
    }

    private bool Possible(FaultKind kind) => (options.Kinds.Count == 0 || options.Kinds.Contains(kind)) && kind switch
    {
        FaultKind.NetworkCut => options.NetnsWorker is not null && options.Veth is not null && options.CutTable is not null,
        FaultKind.DiskFullFetch or FaultKind.DiskFullBuild => options.DiskWorker is not null && options.DiskMount is not null,
        _ => true,
    };

    /// <summary>Draws every random number the injection needs now, so the schedule depends on the seed only.</summary>
    public Func<CancellationToken, Task<Injection>> Plan(FaultKind kind)
    {
        var delay = TimeSpan.FromMilliseconds(random.Next(300, 4000));
        // Down 0.3-2.5 s: long enough for every client and worker to meet the fault, short enough for 500 faults in about an hour.
        var down = TimeSpan.FromMilliseconds(random.Next(300, 2500));
        var viaFetch = random.Next(2) == 0;
        // The cut outlasts the namespace worker's retry budget (about 2 s, see SoakRun) several times over.
        var cut = TimeSpan.FromMilliseconds(random.Next(5000, 12000));
        // Minutes off, either way: behind by more than Freshness:ClockSkew (2 min) makes requests look issued in its future.
        var skew = TimeSpan.FromSeconds(random.Next(150, 600) * (random.Next(2) == 0 ? -1 : 1));
        var skewed = random.Next(2);
        var upgraded = random.Next(farm.Workers.Count);
        return kind switch
        {
            FaultKind.WorkerKillFetch => ct => KillWorkerAtAsync("fetch", hold: true, down, ct),
            FaultKind.WorkerKillBuild => ct => KillWorkerAtAsync("build", hold: false, down, ct),
            FaultKind.WorkerKillUpload => ct => KillWorkerAtAsync("upload", hold: true, down, ct),
            FaultKind.WorkerKillBeforePublish => ct => KillWorkerAtAsync("publish", hold: true, down, ct),
            FaultKind.DispatcherKill => ct => KillDispatcherAsync(delay, down, ct),
            FaultKind.BrokerKillPublish => ct => AtPhaseAsync("publish", down, farm.KillBrokerAsync, Farm.Rabbit, ct),
            FaultKind.SshdStopTransfer => ct => AtPhaseAsync(viaFetch ? "fetch" : "upload", down, farm.KillSshdAsync, Farm.Sshd, ct),
            FaultKind.NetworkCut => ct => CutNetworkAsync("upload", cut, blackhole: viaFetch, ct),
            FaultKind.DiskFullFetch => ct => DiskFullAsync("fetch", down, ct),
            FaultKind.DiskFullBuild => ct => DiskFullAsync("build", down, ct),
            FaultKind.ClockSkew => ct => SkewClockAsync(farm.Workers[skewed % farm.Workers.Count], skew, ct),
            FaultKind.WorkerUpgrade => ct => UpgradeWorkerAsync(farm.Workers[upgraded], ct),
            _ => throw new ArgumentOutOfRangeException(nameof(kind)),
        };
    }

    private async Task<Injection> KillWorkerAtAsync(string phase, bool hold, TimeSpan down, CancellationToken ct)
    {
        var at = await HoldAsync(phase, hold ? "hold" : "mark", ct);
        if (at is null)
            return new Injection(false, $"no worker reached {phase} within {ReachLimit.TotalSeconds} s");
        if (!hold)
            await Task.Delay(TimeSpan.FromMilliseconds(400), ct); // the builder (busybox sleep 1) is running
        var pid = await farm.KillAsync(Farm.WorkerProcess(at.Value.Worker), ct);
        invariants.KilledProcess(pid);
        Release(phase);
        await Task.Delay(down, ct);
        await farm.StartAsync(Farm.WorkerProcess(at.Value.Worker), ct);
        await farm.WaitWorkersOnlineAsync(ct);
        return new Injection(true, $"killed {at.Value.Worker} (pid {pid}) at {phase} of {Short(at.Value.Drv)}, down {down.TotalSeconds:0.0} s");
    }

    private async Task<Injection> KillDispatcherAsync(TimeSpan delay, TimeSpan down, CancellationToken ct)
    {
        await Task.Delay(delay, ct);
        var pid = await farm.KillAsync(Farm.Dispatcher, ct);
        invariants.KilledProcess(pid);
        await Task.Delay(down, ct);
        await farm.StartAsync(Farm.Dispatcher, ct);
        return new Injection(true, $"killed the dispatcher (pid {pid}) {delay.TotalSeconds:0.0} s into the round, down {down.TotalSeconds:0.0} s");
    }

    /// <summary>Holds a worker at PHASE, breaks a server (broker, sshd), lets the worker go on into the break, restarts the server.</summary>
    private async Task<Injection> AtPhaseAsync(string phase, TimeSpan down, Func<CancellationToken, Task> kill, string server, CancellationToken ct)
    {
        var at = await HoldAsync(phase, "hold", ct);
        if (at is null)
            return new Injection(false, $"no worker reached {phase} within {ReachLimit.TotalSeconds} s");
        await kill(ct);
        Release(phase);
        await Task.Delay(down, ct);
        await farm.StartAsync(server, ct);
        await farm.WaitWorkersOnlineAsync(ct);
        return new Injection(true, $"{server} down while {at.Value.Worker} was at {phase} of {Short(at.Value.Drv)}, for {down.TotalSeconds:0.0} s");
    }

    private async Task<(string Worker, string Drv)?> HoldAsync(string phase, string mode, CancellationToken ct, string? only = null)
    {
        foreach (var w in farm.Workers)
            Directory.CreateDirectory(Path.Combine(holdDir, w));
        foreach (var w in farm.Workers.Where(w => only is null || w == only))
        {
            File.Delete(Path.Combine(holdDir, w, "at-" + phase));
            await File.WriteAllTextAsync(Path.Combine(holdDir, w, "hold-" + phase), mode, ct);
        }

        var until = DateTime.UtcNow + ReachLimit;
        while (DateTime.UtcNow < until)
        {
            foreach (var w in farm.Workers.Where(w => only is null || w == only))
            {
                var marker = Path.Combine(holdDir, w, "at-" + phase);
                if (File.Exists(marker))
                {
                    // The victim is found: the other workers stop being asked to hold (one already holding goes on
                    // when its file disappears, with Release).
                    foreach (var other in farm.Workers.Where(o => o != w))
                        File.Delete(Path.Combine(holdDir, other, "hold-" + phase));
                    if (mode == "mark")
                        File.Delete(Path.Combine(holdDir, w, "hold-" + phase));
                    return (w, await File.ReadAllTextAsync(marker, ct));
                }
            }

            await Task.Delay(20, ct);
        }

        Release(phase);
        return null;
    }

    private void Release(string phase)
    {
        foreach (var w in farm.Workers)
        {
            File.Delete(Path.Combine(holdDir, w, "hold-" + phase));
            File.Delete(Path.Combine(holdDir, w, "at-" + phase));
        }
    }

    private static string Short(string drv) => Path.GetFileName(drv.Trim()).Split('-', 2) is [_, var name] ? name : drv;
}
