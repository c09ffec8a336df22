using BuildFarm.Dispatcher.Lifecycle;
using BuildFarm.Dispatcher.Submission;
using BuildFarm.Store.Derivations;
using BuildFarm.Store.Paths;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace BuildFarm.Dispatcher.Api;

/// <summary>The dispatcher's core JSON API: submit, read and cancel builds, list workers and classes (docs/api.md).</summary>
internal static class DispatcherApi
{
    public static IEndpointRouteBuilder MapDispatcherApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api");
        api.MapPost("/builds", SubmitAsync);
        api.MapGet("/builds", async (BuildViews views, int? limit, CancellationToken ct) => Results.Ok(await views.RecentAsync(Math.Clamp(limit ?? 100, 1, 1000), ct)));
        api.MapGet("/builds/{id:guid}", async (Guid id, BuildViews views, CancellationToken ct) =>
            await views.GetAsync(id, ct) is { } view ? Results.Ok(view) : NotFound(id));
        api.MapGet("/builds/{id:guid}/log", async (Guid id, long? after, BuildViews views, CancellationToken ct) =>
            await views.LogAsync(id, after ?? 0, ct) is { } log ? Results.Ok(log) : NotFound(id));
        api.MapGet("/builds/{id:guid}/derivation", DerivationAsync);
        api.MapPost("/builds/{id:guid}/cancel", async (Guid id, BuildLifecycle lifecycle, BuildViews views, CancellationToken ct) =>
        {
            var cancelled = await lifecycle.CancelAsync(id, "cancelled through the API", ct);
            return await views.GetAsync(id, ct) is { } view ? Results.Ok(new { cancelled, view.State }) : NotFound(id);
        });
        api.MapGet("/workers", async (BuildViews views, CancellationToken ct) => Results.Ok(await views.WorkersAsync(ct)));
        api.MapGet("/classes", async (BuildViews views, CancellationToken ct) => Results.Ok(await views.ClassesAsync(ct)));
        return app;
    }

    /// <summary>The build's stored <c>.drv</c>, parsed by the submission intake and written as Nix's <c>nix show-derivation</c> prints it.</summary>
    private static async Task<IResult> DerivationAsync(Guid id, LifecycleDatabase db, DerivationIntake intake, CancellationToken ct)
    {
        var b = await db.RunAsync(s => BuildTable.GetAsync(s, id), ct);
        if (b is null)
            return NotFound(id);
        // Every stored text passed the same intake at submission; failing here means the database was edited.
        var (drv, error) = await intake.ResolveAsync(b.DrvPath, b.DrvText, ct);
        if (drv is null)
            return Results.Json(new ErrorResponse($"stored derivation of build {id} does not parse: {error}"), statusCode: 500);
        return Results.Text(DerivationJson.Serialize([new(StorePath.Parse(new StoreDirectory(b.StoreDir), drv.DrvPath), drv.Drv)]), "application/json");
    }

    private static async Task<IResult> SubmitAsync(SubmitBuildBody body, DerivationIntake intake, BuildSubmitter submitter, BuildViews views, CancellationToken ct)
    {
        if (SubmitLimits.Check(body.TimeoutSeconds, body.MaxSilentSeconds) is { } badLimits)
            return Results.BadRequest(new ErrorResponse(badLimits));
        var (drv, error) = await intake.ResolveAsync(body.DrvPath, body.DrvText, ct);
        if (drv is null)
            return Results.BadRequest(new ErrorResponse(error!));
        var result = await submitter.SubmitAsync(drv, new SubmitSettings(
            body.Priority, body.WaitForCapacity, TimeSpan.FromSeconds(body.TimeoutSeconds), TimeSpan.FromSeconds(body.MaxSilentSeconds)), ct);
        if (result.BuildId is not { } id)
            return Results.UnprocessableEntity(new ErrorResponse(result.RefusedBecause!));
        var view = await views.GetAsync(id, ct);
        return Results.Accepted($"/api/builds/{id}", new SubmitBuildResponse(id, view!.State, view.WaitingReason));
    }

    private static IResult NotFound(Guid id) => Results.NotFound(new ErrorResponse($"no build {id}"));
}
