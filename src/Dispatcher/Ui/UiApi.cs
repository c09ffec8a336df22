using System.Globalization;
using System.Text.RegularExpressions;
using BuildFarm.Dispatcher.Api;
using BuildFarm.Dispatcher.Lifecycle;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace BuildFarm.Dispatcher.Ui;

/// <summary>POST /api/workers/{name}/drain|pause body (optional note shown on the Workers page).</summary>
public sealed record WorkerActionBody(string? Note);

/// <summary>API routes the UI needs beyond the dispatcher's own: paged build search and worker actions.</summary>
internal static partial class UiApi
{
    public static IEndpointRouteBuilder MapUiApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api");
        api.MapGet("/builds/search", async (LifecycleDatabase db, string? state, string? system, string? worker, string? name, string? since, string? until,
            int? offset, int? limit, int? oldest, string? sort, string? dir, CancellationToken ct) =>
        {
            if (!TryInstant(since, out var from) || !TryInstant(until, out var to))
                return Results.BadRequest(new ErrorResponse($"since/until must be ISO 8601 instants such as 2026-11-29T08:00:00Z (got '{since}', '{until}')"));
            var query = new BuildQuery(state, system, worker, name, Math.Max(offset ?? 0, 0), Math.Clamp(limit ?? 50, 1, 500), oldest == 1 || dir == "asc", sort)
            {
                Since = from,
                Until = to,
            };
            return Results.Ok(await BuildSearch.SearchAsync(db, query, ct));
        });
        api.MapPost("/workers/{name}/drain", (string name, WorkerActionBody? body, IWorkerControl control, BuildViews views, CancellationToken ct) =>
            ActAsync(name, views, c => control.DrainAsync(name, body?.Note, c), "drain", ct));
        api.MapPost("/workers/{name}/pause", (string name, WorkerActionBody? body, IWorkerControl control, BuildViews views, CancellationToken ct) =>
            ActAsync(name, views, c => control.PauseAsync(name, body?.Note, c), "pause", ct));
        api.MapPost("/workers/{name}/resume", (string name, IWorkerControl control, BuildViews views, CancellationToken ct) =>
            ActAsync(name, views, c => control.ResumeAsync(name, c), "resume", ct));
        return app;
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

    /// <summary>
    /// Only known workers; 202 once the command is confirmed by the broker (the worker applies it on receipt). When
    /// the broker does not confirm it, 503: the command may still arrive, and sending it again is harmless (drain,
    /// pause and resume are idempotent on the worker).
    /// </summary>
    private static async Task<IResult> ActAsync(string name, BuildViews views, Func<CancellationToken, Task> send, string action, CancellationToken ct)
    {
        var workers = await views.WorkersAsync(ct);
        if (!workers.Any(w => w.Name == name))
            return Results.NotFound(new ErrorResponse($"no worker named '{name}' is known here: it never reported, or has been silent longer than Ui:ForgetDeadWorkersAfter"));
        try
        {
            await send(ct);
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            Serilog.Log.ForContext("Worker", name).Warning(e, "The broker did not confirm {Action} for {Worker}", action, name);
            return Results.Json(new ErrorResponse($"{action} for '{name}' was not confirmed by the broker ({e.Message}); it may still arrive, and sending it again is safe"),
                statusCode: StatusCodes.Status503ServiceUnavailable);
        }

        return Results.Accepted($"/api/workers", new { worker = name, action, sent = true });
    }

    [GeneratedRegex(@"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,7})?)?(Z|[+-]\d{2}:\d{2})?)?$")]
    private static partial Regex Iso8601();
}
