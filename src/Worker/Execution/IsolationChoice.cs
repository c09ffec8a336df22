using BuildFarm.Contracts.Builds;
using BuildFarm.Contracts.Workers;
using BuildFarm.Messaging.Routing;
using BuildFarm.Worker.Configuration;

namespace BuildFarm.Worker.Execution;

/// <summary>
/// How this worker runs builders, as <see cref="ExecutorSelection"/> chose it at start-up (before the build consumers
/// and the heartbeat start), and what that makes the worker declare and consume: the routing rule of
/// <see cref="TrustedRouting"/> (an unsandboxed worker takes only trusted builds), and the contract versions it
/// speaks (<see cref="ContractRouting"/>).
/// </summary>
internal sealed class IsolationChoice
{
    private volatile WorkerIsolation? _current;

    /// <summary>Null until the start-up probe decided.</summary>
    public WorkerIsolation? Current => _current;

    public void Set(WorkerIsolation isolation) => _current = isolation;

    /// <summary>
    /// The capabilities this worker consumes by and reports. Before the probe decided it counts as running nothing,
    /// the narrowest routing: no untrusted build can reach a worker whose sandbox is not known to work.
    /// </summary>
    public WorkerCapabilities Capabilities(WorkerOptions o) =>
        WorkerOptionsValidator.Declared(o, _current?.Isolation ?? BuildIsolation.None);
}
