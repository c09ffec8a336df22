using BuildFarm.Dispatcher.Lifecycle;
using BuildFarm.Hook.Farm;
using BuildFarm.Messaging.Routing;

namespace BuildFarm.Dispatcher.Registry;

/// <summary>
/// The answer to a daemon's build hook (docs/hook.md), from the dispatcher's live records only (worker heartbeats
/// and slots, open builds): no probe, so it takes milliseconds. Decline when no worker ever seen could run the
/// class; postpone when capable workers exist but none is online and taking work, when their slots are all taken
/// by running builds and by queued builds beyond the backlog allowed per slot, or when the broker is unreachable
/// (the bus says so, or it has stopped confirming requests); accept otherwise.
/// </summary>
internal static class HookDecider
{
    /// <summary>A queued build the broker has not confirmed for this long means the broker is down.</summary>
    public static readonly TimeSpan BrokerStallAfter = TimeSpan.FromSeconds(10);

    public static HookDecideResponse Decide(
        IReadOnlyList<WorkerRecord> workers, OpenBuildCounts open, BuildClass buildClass, DateTimeOffset now, TimeSpan onlineWindow,
        string? brokerTrouble = null, int backlogPerSlot = 0)
    {
        if (CapacityCheck.Refusal(workers, buildClass) is { } refusal)
        {
            var cut = refusal.IndexOf(" (submit with", StringComparison.Ordinal);
            return new("decline", "", cut > 0 ? refusal[..cut] : refusal);
        }

        if (brokerTrouble is not null)
            return new("postpone", "", brokerTrouble);

        var capable = CapacityCheck.Capable(workers, buildClass);
        var taking = capable.Where(w => CapacityCheck.IsOnline(w, now, onlineWindow) && !w.Draining && !w.Paused).ToArray();
        if (taking.Length == 0)
            return new("postpone", "", $"capable workers exist ({string.Join(", ", capable.Select(w => $"{w.Name}: {Why(w, now, onlineWindow)}"))}) but none is taking work now");

        // open.Unconfirmed counts those submitted more than BrokerStallAfter ago (the caller reads them so).
        if (open.Unconfirmed > 0)
            return new("postpone", "", $"the broker has not confirmed {open.Unconfirmed} build request(s) for up to {(now - open.OldestUnconfirmed!.Value).TotalSeconds:0} s");

        var free = taking
            .Select(w => (Worker: w, Free: w.Capabilities.Slots - (int)open.RunningPerWorker.GetValueOrDefault(w.Name)))
            .Where(x => x.Free > 0)
            .OrderByDescending(x => x.Worker.Capabilities.SpeedFactor).ThenByDescending(x => x.Free)
            .ToArray();
        var freeSlots = free.Sum(x => x.Free);
        var slots = taking.Sum(w => w.Capabilities.Slots);
        // Builds already queued that these workers could take compete for the same slots; up to the backlog, a
        // queued build starts as soon as a slot frees, where a postponed one would wait for Nix's next poll.
        var queuedAhead = open.QueuedPerClass.Where(c => taking.Any(w => ContractRouting.CanRunAnyVersion(w.Capabilities, c.Key))).Sum(c => c.Value);
        var room = freeSlots + (long)backlogPerSlot * slots;
        if (room > queuedAhead)
        {
            // The broker, not this answer, picks the worker: the machine line (Nix prints "building … on 'MACHINE'")
            // names the farm and the capable workers with a free slot (all those taking work when none is free), fastest first.
            var named = free.Length > 0 ? free.Select(x => x.Worker) : taking.OrderByDescending(w => w.Capabilities.SpeedFactor);
            return new("accept", $"buildfarm[{string.Join(',', named.Select(w => w.Name))}]",
                $"{freeSlots} free slot(s) on capable workers, {queuedAhead} build(s) queued ahead (backlog up to {backlogPerSlot} per slot)");
        }

        return new("postpone", "", $"all {slots} slot(s) of the capable workers ({string.Join(", ", taking.Select(w => w.Name))}) are taken; {queuedAhead} build(s) queued ahead (backlog up to {backlogPerSlot} per slot)");
    }

    private static string Why(WorkerRecord w, DateTimeOffset now, TimeSpan onlineWindow) =>
        w.Draining ? "draining" : w.Paused ? "paused" : $"not heard from for {(now - w.LastSeen).TotalSeconds:0} s";
}
