using BuildFarm.Contracts.Workers;
using BuildFarm.Dispatcher.Lifecycle;
using BuildFarm.Messaging.Routing;

namespace BuildFarm.Dispatcher.Registry;

/// <summary>The contract version a request is published at, and a warning when no capable worker can take it.</summary>
/// <param name="Version">What the request is signed and routed as (<see cref="ContractRouting"/>).</param>
/// <param name="Problem">Null when a capable worker speaks <paramref name="Version"/>; otherwise what the operator must do.</param>
internal sealed record ContractVersionRoute(int Version, string? Problem);

/// <summary>
/// Picks the version of each request from the versions the capable workers announce (their contract marks), so no
/// request goes where only workers that would refuse it consume. Among the capable workers online (or, when none is,
/// every capable worker ever seen: they come back), it prefers the newest version every one of them speaks, so during
/// a rolling upgrade every worker keeps taking work; failing that, the newest any of them speaks (the others are
/// routed around); failing that, the oldest version the dispatcher writes, with a problem naming the workers.
/// </summary>
internal static class ContractVersionChoice
{
    /// <summary>
    /// The route from the distinct capability sets alone, without every worker row, when the dispatcher writes one
    /// version and every capable set ever seen speaks it (the common case, in which <see cref="Choose"/> could answer
    /// nothing else); null when <see cref="Choose"/> must look at the workers.
    /// </summary>
    public static ContractVersionRoute? WhenEverySetSpeaks(IEnumerable<WorkerCapabilities> capabilitySets, BuildClass buildClass, IReadOnlyList<int> writable) =>
        writable is [var only] && capabilitySets.Where(c => ContractRouting.CanRunAnyVersion(c, buildClass)).All(c => ContractRouting.VersionsOf(c).Contains(only))
            ? new ContractVersionRoute(only, null)
            : null;

    public static ContractVersionRoute Choose(IReadOnlyList<WorkerRecord> workers, BuildClass buildClass, IReadOnlyList<int> writable, DateTimeOffset now, TimeSpan onlineWindow)
    {
        var capable = CapacityCheck.Capable(workers, buildClass);
        var online = capable.Where(w => CapacityCheck.IsOnline(w, now, onlineWindow)).ToArray();
        var pool = online.Length > 0 ? online : capable;
        if (pool.Count == 0)
            return new(writable.Min(), null);
        var spoken = pool.Select(w => ContractRouting.VersionsOf(w.Capabilities)).ToArray();
        var common = writable.Where(v => spoken.All(s => s.Contains(v))).ToArray();
        if (common.Length > 0)
            return new(common.Max(), null);
        var any = writable.Where(v => spoken.Any(s => s.Contains(v))).ToArray();
        if (any.Length > 0)
            return new(any.Max(), null);
        return new(writable.Min(),
            $"no capable worker speaks a contract version this dispatcher writes ({string.Join(", ", writable)}); " +
            $"workers: {string.Join("; ", pool.Select(w => $"{w.Name} speaks {string.Join(", ", ContractRouting.VersionsOf(w.Capabilities))}"))}: " +
            "upgrade the older side (docs/operations.md, Upgrades); the request waits in its queue until a worker that speaks it comes");
    }
}
