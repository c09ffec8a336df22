using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace BuildFarm.Dispatcher.Api;

/// <summary>Routes of the operator CLI and the UI's charts: retry, phases, throughput, class rates, alerts, probe.</summary>
internal static class OperatorApi
{
    public static IEndpointRouteBuilder MapOperatorApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api");
        api.MapPost("/builds/{id:guid}/retry", async (Guid id, BuildRetry retry, BuildViews views, CancellationToken ct) =>
        {
            var (outcome, newId, error) = await retry.RetryAsync(id, ct);
            return outcome switch
            {
                BuildRetry.Outcome.Submitted when await views.GetAsync(newId!.Value, ct) is { } view =>
                    Results.Accepted($"/api/builds/{newId}", new RetryResponse(newId.Value, id, view.State, view.WaitingReason)),
                BuildRetry.Outcome.NotFound => Results.NotFound(new ErrorResponse(error!)),
                BuildRetry.Outcome.NotFinished => Results.Conflict(new ErrorResponse(error!)),
                _ => Results.UnprocessableEntity(new ErrorResponse(error ?? "retry failed")),
            };
        });
        api.MapGet("/builds/{id:guid}/phases", async (Guid id, OperatorViews views, CancellationToken ct) =>
            await views.PhasesAsync(id, ct) is { } phases ? Results.Ok(phases) : Results.NotFound(new ErrorResponse($"no build {id}")));
        api.MapGet("/stats/throughput", (int? minutes, OperatorViews views, CancellationToken ct) => views.ThroughputAsync(Math.Clamp(minutes ?? 60, 1, 24 * 60), ct));
        api.MapGet("/stats/classes", (int? minutes, OperatorViews views, CancellationToken ct) => views.ClassRatesAsync(Math.Clamp(minutes ?? 15, 1, 24 * 60), ct));
        api.MapGet("/stats/backlog", (int? minutes, OperatorViews views, CancellationToken ct) => views.BacklogAsync(Math.Clamp(minutes ?? 60, 1, 24 * 60), ct));
        api.MapGet("/alerts", (OperatorViews views, CancellationToken ct) => views.AlertsAsync(ct));
        // wait=0 (default) reports what heartbeats told; wait=N also probes every live worker and waits up to N s.
        api.MapGet("/workers/probe", (WorkerProbe probe, double? wait, CancellationToken ct) =>
            probe.ProbeAsync(TimeSpan.FromSeconds(Math.Clamp(wait ?? 0, 0, 60)), ct));
        return app;
    }
}
