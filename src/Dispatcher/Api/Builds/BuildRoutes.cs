using System.Globalization;
using System.Text.RegularExpressions;
using BuildFarm.Dispatcher.Lifecycle;
using BuildFarm.Dispatcher.Submission;
using BuildFarm.Store.Derivations;
using BuildFarm.Store.Paths;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace BuildFarm.Dispatcher.Api;

/// <summary>
/// Every <c>/api/builds</c> route (docs/api.md): submit, list, search, read one with its log, derivation and phases,
/// cancel and retry.
/// </summary>
internal static partial class BuildRoutes
{
    public static IEndpointRouteBuilder MapBuildRoutes(this IEndpointRouteBuilder app)
    {
        // The collection itself outside the group, so its pattern stays "/api/builds" (a group's "" would be "/api/builds/").
        app.MapPost("/api/builds", SubmitAsync);
        app.MapGet("/api/builds", async (BuildViews views, int? limit, CancellationToken ct) => Results.Ok(await views.RecentAsync(Math.Clamp(limit ?? 100, 1, 1000), ct)));
        var api = app.MapGroup("/api/builds");
        api.MapGet("/search", SearchAsync);
        api.MapGet("/{id:guid}", async (Guid id, BuildViews views, CancellationToken ct) =>
            await views.GetAsync(id, ct) is { } view ? Results.Ok(view) : NotFound(id));
        api.MapGet("/{id:guid}/log", async (Guid id, long? after, BuildViews views, CancellationToken ct) =>
            await views.LogAsync(id, after ?? 0, ct) is { } log ? Results.Ok(log) : NotFound(id));
        api.MapGet("/{id:guid}/derivation", DerivationAsync);
        api.MapGet("/{id:guid}/phases", async (Guid id, BuildViews views, CancellationToken ct) =>
            await views.PhasesAsync(id, ct) is { } phases ? Results.Ok(phases) : NotFound(id));
        api.MapPost("/{id:guid}/cancel", async (Guid id, BuildLifecycle lifecycle, BuildViews views, CancellationToken ct) =>
        {
            // One submission stops waiting; the build itself is cancelled when no one else waits for it.
            var cancelled = await lifecycle.LeaveAsync(id, null, "cancelled through the API", ct);
            return await views.GetAsync(id, ct) is { } view ? Results.Ok(new { cancelled, view.State }) : NotFound(id);
        });
        api.MapPost("/{id:guid}/retry", RetryAsync);
        return app;
    }

    private static async Task<IResult> SubmitAsync(SubmitBuildBody body, DerivationIntake intake, BuildSubmitter submitter, BuildViews views, CancellationToken ct)
    {
        if (SubmitLimits.Check(body.TimeoutSeconds, body.MaxSilentSeconds) is { } badLimits)
            return Results.BadRequest(new ErrorResponse(badLimits));
        var (drv, error) = await intake.ResolveAsync(body.DrvPath, body.DrvText, ct);
        if (drv is null)
            return Results.BadRequest(new ErrorResponse(error!));
        var result = await submitter.SubmitAsync(drv, new SubmitSettings(
            body.Priority, body.WaitForCapacity, TimeSpan.FromSeconds(body.TimeoutSeconds), TimeSpan.FromSeconds(body.MaxSilentSeconds), body.Trusted), ct);
        if (result.BuildId is not { } id)
            return Results.UnprocessableEntity(new ErrorResponse(result.RefusedBecause!));
        var (state, waiting) = (await views.StateAsync(id, ct))!.Value;
        return Results.Accepted($"/api/builds/{id}", new SubmitBuildResponse(id, state, waiting));
    }

    /// <summary>Paged search for the UI's builds table (<see cref="BuildQuery"/>).</summary>
    private static async Task<IResult> SearchAsync(LifecycleDatabase db, string? state, string? system, string? worker, string? name, string? since, string? until,
        int? offset, int? limit, int? oldest, string? sort, string? dir, CancellationToken ct)
    {
        if (!TryInstant(since, out var from) || !TryInstant(until, out var to))
            return Results.BadRequest(new ErrorResponse($"since/until must be ISO 8601 instants such as 2026-11-29T08:00:00Z (got '{since}', '{until}')"));
        var query = new BuildQuery(state, system, worker, name, Math.Max(offset ?? 0, 0), Math.Clamp(limit ?? 50, 1, 500), oldest == 1 || dir == "asc", sort)
        {
            Since = from,
            Until = to,
        };
        var (total, items) = await db.ReadAsync(s => BuildSearch.SearchAsync(s, query), ct);
        return Results.Ok(new BuildPage(total, query.Offset, query.Limit, items));
    }

    /// <summary>The build's stored <c>.drv</c>, parsed by the submission intake and written as Nix's <c>nix show-derivation</c> prints it.</summary>
    private static async Task<IResult> DerivationAsync(Guid id, LifecycleDatabase db, DerivationIntake intake, CancellationToken ct)
    {
        var b = await db.ReadAsync(s => BuildTable.GetAsync(s, id), ct);
        if (b is null)
            return NotFound(id);
        // Every stored text passed the same intake at submission; failing here means the database was edited.
        var (drv, error) = await intake.ResolveAsync(b.DrvPath, b.DrvText, ct);
        if (drv is null)
            return Results.Json(new ErrorResponse($"stored derivation of build {id} does not parse: {error}"), statusCode: 500);
        return Results.Text(DerivationJson.Serialize([new(StorePath.Parse(new StoreDirectory(b.StoreDir), drv.DrvPath), drv.Drv)]), "application/json");
    }

    private static async Task<IResult> RetryAsync(Guid id, BuildRetry retry, BuildViews views, CancellationToken ct)
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
    }

    /// <summary>
    /// An absent filter is null; a present one must be an ISO 8601 date or instant (without an offset it is UTC). The
    /// shape is checked first, because DateTimeOffset.TryParse alone also takes "11/29/2026" and other culture forms.
    /// </summary>
    private static bool TryInstant(string? text, out DateTimeOffset? value)
    {
        value = null;
        if (string.IsNullOrWhiteSpace(text))
            return true;
        if (!Iso8601().IsMatch(text)
            || !DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var parsed))
            return false;
        value = parsed;
        return true;
    }

    private static IResult NotFound(Guid id) => Results.NotFound(new ErrorResponse($"no build {id}"));

    [GeneratedRegex(@"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,7})?)?(Z|[+-]\d{2}:\d{2})?)?$")]
    private static partial Regex Iso8601();
}
