using BuildFarm.Dispatcher.Lifecycle;

namespace BuildFarm.Dispatcher.Api;

/// <summary>
/// <c>POST /api/builds/{id}/retry</c>: a failed or cancelled build is submitted again as a new build of the same
/// derivation (same text, outputs, priority and limits); the old build and its attempts stay as they were.
/// </summary>
internal sealed class BuildRetry(BuildLifecycle lifecycle)
{
    public enum Outcome
    {
        Submitted,
        NotFound,
        NotFinished,
        Refused,
    }

    public async Task<(Outcome Outcome, Guid? NewId, string? Error)> RetryAsync(Guid id, CancellationToken cancellationToken)
    {
        var b = await lifecycle.Database.RunAsync(s => BuildTable.GetAsync(s, id), cancellationToken);
        if (b is null)
            return (Outcome.NotFound, null, $"no build {id}");
        if (b.State is not (BuildState.Failed or BuildState.Cancelled))
            return (Outcome.NotFinished, null, $"build {id} is {b.State}: only a failed or cancelled build can be retried");
        var result = await lifecycle.SubmitAsync(new SubmitRequest(
            b.DrvPath, b.DrvText, b.StoreDir, b.System, b.Features, b.WantedOutputs, b.Priority, b.WaitForCapacity, b.Timeout, b.MaxSilentTime), cancellationToken);
        return result.BuildId is { } newId ? (Outcome.Submitted, newId, null) : (Outcome.Refused, null, result.RefusedBecause);
    }
}
