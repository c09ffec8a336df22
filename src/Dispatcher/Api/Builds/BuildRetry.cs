using BuildFarm.Dispatcher.Lifecycle;
using BuildFarm.Dispatcher.Submission;

namespace BuildFarm.Dispatcher.Api;

/// <summary>
/// <c>POST /api/builds/{id}/retry</c>: a failed or cancelled build is submitted again as a new build of the same
/// derivation (same text, priority and limits); the old build and its attempts stay as they were. The stored text
/// goes through the same intake and <see cref="BuildSubmitter"/> as <c>POST /api/builds</c>, so the new request is
/// what a fresh submission would send: with an origin configured, the origin and the input closure as the origin
/// store has it now (an input no longer valid there refuses the retry, naming it).
/// </summary>
internal sealed class BuildRetry(BuildLifecycle lifecycle, DerivationIntake intake, BuildSubmitter submitter)
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
        var (drv, error) = await intake.ResolveAsync(b.DrvPath, b.DrvText, cancellationToken);
        if (drv is null)
            return (Outcome.Refused, null, $"build {id} cannot be submitted again: {error}");
        var result = await submitter.SubmitAsync(drv, new SubmitSettings(b.Priority, b.WaitForCapacity, b.Timeout, b.MaxSilentTime, b.Trusted), cancellationToken);
        return result.BuildId is { } newId ? (Outcome.Submitted, newId, null) : (Outcome.Refused, null, result.RefusedBecause);
    }
}
