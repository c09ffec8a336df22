using BuildFarm.Contracts.Builds;
using BuildFarm.Dispatcher.Lifecycle;
using BuildFarm.Dispatcher.Origin;

namespace BuildFarm.Dispatcher.Submission;

/// <summary>How a build is to run (from the API body or a graph); <c>Trusted</c>: an operator lets it run unsandboxed.</summary>
internal sealed record SubmitSettings(int Priority, bool WaitForCapacity, TimeSpan Timeout, TimeSpan MaxSilentTime, bool Trusted = false);

/// <summary>
/// Submits one parsed derivation: with an origin configured the request carries it and the input closure from the
/// origin store, and a derivation whose inputs are not all valid there is refused, naming the missing path. A
/// derivation whose outputs are all valid in the origin store already is not built at all (recorded as succeeded),
/// and one already in flight is joined (<see cref="BuildLifecycle.SubmitAsync"/>).
/// </summary>
internal sealed class BuildSubmitter(BuildLifecycle lifecycle, OriginStore store, OriginConfig? origin)
{
    public bool HasOrigin => origin is not null;

    /// <summary>The origin announced in build requests (what a live probe asks workers to reach), or null.</summary>
    public OriginEndpoint? Origin => origin?.Endpoint;

    /// <param name="drv">The parsed derivation.</param>
    /// <param name="settings">How to run it.</param>
    /// <param name="cancellationToken">Cancels the submission.</param>
    /// <param name="buildId">The id to give a new build (a graph's node fixes it beforehand).</param>
    /// <param name="waiter">Who waits for the result; null: a fresh direct submission.</param>
    public async Task<SubmitResult> SubmitAsync(IntakeResult drv, SubmitSettings settings, CancellationToken cancellationToken, Guid? buildId = null, string? waiter = null)
    {
        OriginEndpoint? endpoint = null;
        IReadOnlyList<InputPath>? closure = null;
        var valid = await store.ValidOutputsAsync(drv.Drv, drv.Outputs, cancellationToken);
        if (origin is not null && valid is null)
        {
            var (inputs, error) = await store.InputClosureAsync(drv.Drv, cancellationToken);
            if (inputs is null)
                return new SubmitResult(null, $"{drv.DrvPath}: {error}");
            endpoint = origin.Endpoint;
            closure = inputs;
        }

        var storeDir = drv.DrvPath[..drv.DrvPath.LastIndexOf('/')];
        return await lifecycle.SubmitAsync(new SubmitRequest(
            drv.DrvPath, drv.DrvText, storeDir, drv.System, drv.Features, drv.Outputs, settings.Priority, settings.WaitForCapacity,
            settings.Timeout, settings.MaxSilentTime, endpoint, closure, buildId, settings.Trusted, waiter, valid), cancellationToken);
    }
}
