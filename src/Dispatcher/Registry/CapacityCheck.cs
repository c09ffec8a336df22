using BuildFarm.Contracts.Workers;
using BuildFarm.Dispatcher.Lifecycle;
using BuildFarm.Messaging.Routing;

namespace BuildFarm.Dispatcher.Registry;

/// <summary>
/// Which known workers can run a class (Nix's machine rule), and the refusal message when none ever could —
/// like <c>guix offload</c> declining, it names the system, the features and every machine that exists.
/// </summary>
internal static class CapacityCheck
{
    public const string NoCapableWorkerOnline = "waiting: no capable worker online";

    /// <summary>The workers that can run <paramref name="buildClass"/> at some contract version (which one is chosen at publish: <see cref="ContractVersionChoice"/>).</summary>
    public static IReadOnlyList<WorkerRecord> Capable(IEnumerable<WorkerRecord> workers, BuildClass buildClass) =>
        workers.Where(w => ContractRouting.CanRunAnyVersion(w.Capabilities, buildClass)).ToArray();

    public static bool IsOnline(WorkerRecord worker, DateTimeOffset now, TimeSpan window) =>
        worker.State == WorkerTable.Online && now - worker.LastSeen <= window;

    /// <summary>Null when some worker ever seen can run <paramref name="buildClass"/>; otherwise the refusal.</summary>
    public static string? Refusal(IReadOnlyList<WorkerRecord> workers, BuildClass buildClass)
    {
        if (Capable(workers, buildClass).Count > 0)
            return null;
        var wanted = buildClass.Features.Count == 0 ? "no required features" : "required features {" + string.Join(", ", buildClass.Features) + "}";
        var machines = workers.Count == 0
            ? "no worker has ever registered with this dispatcher"
            : "machines that exist: " + string.Join("; ", workers.Select(Describe));
        return $"no machine can build system {buildClass.System} with {wanted}; {machines} " +
            "(submit with --wait-for-capacity to queue it until a capable worker joins)";
    }

    public static string Describe(WorkerRecord w) => $"{w.Name} ({DescribeCapabilities(w.Capabilities)}, {w.State})";

    public static string DescribeCapabilities(WorkerCapabilities c) =>
        $"systems {string.Join(",", c.Systems)}; features {List(c.SupportedFeatures)}; mandatory {List(c.MandatoryFeatures)}";

    private static string List(IReadOnlyList<string> items) => items.Count == 0 ? "-" : string.Join(",", items);
}
