using BuildFarm.Dispatcher.Graphs;
using BuildFarm.Dispatcher.Submission;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace BuildFarm.Dispatcher.Api;

/// <summary>Every <c>/api/graphs</c> route (docs/api.md): submit, list, read one, cancel.</summary>
internal static class GraphRoutes
{
    public static IEndpointRouteBuilder MapGraphRoutes(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/graphs");
        api.MapPost("", SubmitAsync);
        api.MapGet("", async (GraphViews views, int? limit, CancellationToken ct) => Results.Ok(await views.RecentAsync(Math.Clamp(limit ?? 50, 1, 1000), ct)));
        api.MapGet("/{id:guid}", async (Guid id, long? since, int? offset, int? limit, GraphViews views, CancellationToken ct) =>
        {
            if (offset < 0 || limit < 1)
                return Results.BadRequest(new ErrorResponse("offset must be 0 or more and limit 1 or more"));
            return await views.ReadAsync(id, since, ct, offset ?? 0, limit) is { } rows ? rows : NotFound(id);
        });
        api.MapPost("/{id:guid}/cancel", async (Guid id, GraphScheduler scheduler, GraphViews views, CancellationToken ct) =>
        {
            await scheduler.CancelAsync(id, "graph cancelled through the API", ct);
            return await views.ReadAsync(id, null, ct) is { } rows ? rows : NotFound(id);
        });
        return app;
    }

    private static async Task<IResult> SubmitAsync(SubmitGraphBody body, GraphScheduler scheduler, GraphViews views, CancellationToken ct)
    {
        if (SubmitLimits.Check(body.TimeoutSeconds, body.MaxSilentSeconds) is { } badLimits)
            return Results.BadRequest(new ErrorResponse(badLimits));
        if (body.Targets is { } given && given.Any(string.IsNullOrWhiteSpace))
            return Results.BadRequest(new ErrorResponse("targets must be .drv paths, not null or empty strings"));
        var (id, error) = await scheduler.CreateAsync(new GraphRequest(body.Targets ?? [], body.KeepGoing, new SubmitSettings(
            body.Priority, body.WaitForCapacity, TimeSpan.FromSeconds(body.TimeoutSeconds), TimeSpan.FromSeconds(body.MaxSilentSeconds), body.Trusted)), ct);
        if (id is not { } graphId)
            return Results.UnprocessableEntity(new ErrorResponse(error!));
        var view = (await views.GetAsync(graphId, null, ct))!;
        return Results.Accepted($"/api/graphs/{graphId}", new SubmitGraphResponse(graphId, view.State, view.Counts));
    }

    private static IResult NotFound(Guid id) => Results.NotFound(new ErrorResponse($"no graph {id}"));
}
