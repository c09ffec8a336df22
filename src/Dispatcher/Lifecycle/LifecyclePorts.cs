using BuildFarm.Contracts.Builds;

namespace BuildFarm.Dispatcher.Lifecycle;

/// <summary>Publishes one attempt of a build on its class queue; returns only once the broker confirmed it.</summary>
internal interface IBuildRequestPublisher
{
    /// <param name="request">The attempt.</param>
    /// <param name="contractVersion">The version it is signed and routed as (BuildFarm.Messaging.Routing.ContractRouting).</param>
    /// <param name="cancellationToken">Stops waiting for the broker.</param>
    Task PublishAsync(BuildDerivation request, int contractVersion, CancellationToken cancellationToken);
}

/// <summary>Publishes control commands to workers (MassTransit publish: awaits the broker's confirm).</summary>
internal interface IControlPublisher
{
    Task CancelBuildAsync(CancelBuild command, CancellationToken cancellationToken);
}

/// <summary>
/// Brings a successful attempt's returned outputs from quarantine into the origin store (all or nothing), or says
/// why they are rejected. Called outside any lifecycle transaction.
/// </summary>
internal interface IOutputImporter
{
    /// <param name="e">The attempt's result.</param>
    /// <param name="drvPath">The build's derivation (from its record), whose outputs the archive must be.</param>
    /// <param name="drvText">That derivation's <c>.drv</c> text: fixed outputs are checked against its declared hashes.</param>
    /// <param name="cancellationToken">Cancels the import (nothing is left valid).</param>
    /// <returns>Null when every output is now valid in the origin store as the event says; otherwise the rejection reason.</returns>
    Task<string?> ImportAsync(BuildSucceeded e, string drvPath, string drvText, CancellationToken cancellationToken);

    /// <summary>Deletes the attempt's quarantine file (after its verdict is committed).</summary>
    void Discard(Guid buildId, int attempt);
}

/// <summary>The lifecycle's settings (bound from the dispatcher options).</summary>
/// <param name="LeaseDuration">How long a claim lives without a heartbeat.</param>
/// <param name="MaxAttempts">Attempts before a build fails as infrastructure.</param>
/// <param name="MaxLogBytesPerBuild">Log kept per build.</param>
/// <param name="HeartbeatInterval">How often workers report.</param>
/// <param name="ContractVersions">The contract versions requests may be published at; null: every version this release speaks.</param>
internal sealed record LifecycleSettings(
    TimeSpan LeaseDuration,
    int MaxAttempts,
    long MaxLogBytesPerBuild,
    TimeSpan HeartbeatInterval,
    IReadOnlyList<int>? ContractVersions = null)
{
    public static LifecycleSettings Default { get; } = new(TimeSpan.FromSeconds(15), 3, 10 * 1024 * 1024, TimeSpan.FromSeconds(5));

    /// <summary>The versions in effect: <see cref="ContractVersions"/>, or every version this release speaks.</summary>
    public IReadOnlyList<int> WritableContractVersions => ContractVersions is { Count: > 0 } v ? v : Contracts.ContractsInfo.Spoken;

    /// <summary>A worker is online when its last heartbeat is younger than this and it has not said goodbye.</summary>
    public TimeSpan OnlineWindow => LeaseDuration;
}

/// <summary>
/// What the caller of <see cref="BuildLifecycle.SubmitAsync"/> asks for; system and features come from the .drv,
/// <c>Trusted</c> from an operator (it lets the build run on a worker without a sandbox). <c>Waiter</c> names who
/// waits for the result (a fresh <c>submit:</c> one when null); <c>ValidOutputs</c>, when given, are the outputs
/// already valid in the origin store: the build is recorded as succeeded at once and nothing runs.
/// </summary>
internal sealed record SubmitRequest(
    string DrvPath,
    string DrvText,
    string StoreDir,
    string System,
    IReadOnlyList<string> Features,
    IReadOnlyList<string> WantedOutputs,
    int Priority,
    bool WaitForCapacity,
    TimeSpan Timeout,
    TimeSpan MaxSilentTime,
    OriginEndpoint? Origin = null,
    IReadOnlyList<InputPath>? InputClosure = null,
    Guid? BuildId = null,
    bool Trusted = false,
    string? Waiter = null,
    IReadOnlyList<BuiltOutput>? ValidOutputs = null);

/// <summary>
/// Accepted (with the id) or refused (with a message naming what exists). <c>Joined</c>: the id is a build of the
/// same derivation already in flight, which the request now waits for; <c>Waiter</c>: who the request waits as
/// (what <see cref="BuildLifecycle.LeaveAsync"/> takes).
/// </summary>
internal sealed record SubmitResult(Guid? BuildId, string? RefusedBecause, bool Joined = false, string? Waiter = null);
