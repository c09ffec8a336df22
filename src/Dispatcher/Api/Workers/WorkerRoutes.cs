using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace BuildFarm.Dispatcher.Api;

/// <summary>Every <c>/api/workers</c> route (docs/api.md): the list, the probe, and drain, pause and resume.</summary>
internal static class WorkerRoutes
{
    public static IEndpointRouteBuilder MapWorkerRoutes(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/workers", async (WorkerViews views, CancellationToken ct) => Results.Ok(await views.ListAsync(ct)));
        var api = app.MapGroup("/api/workers");
        // wait=0 (default) reports what heartbeats told; wait=N also probes every live worker and waits up to N s.
        api.MapGet("/probe", (WorkerProbe probe, double? wait, CancellationToken ct) =>
            probe.ProbeAsync(TimeSpan.FromSeconds(Math.Clamp(wait ?? 0, 0, 60)), ct));
        api.MapPost("/{name}/drain", (string name, WorkerActionBody? body, IWorkerControl control, WorkerViews views, CancellationToken ct) =>
            ActAsync(name, views, c => control.DrainAsync(name, body?.Note, c), "drain", ct));
        api.MapPost("/{name}/pause", (string name, WorkerActionBody? body, IWorkerControl control, WorkerViews views, CancellationToken ct) =>
            ActAsync(name, views, c => control.PauseAsync(name, body?.Note, c), "pause", ct));
        api.MapPost("/{name}/resume", (string name, IWorkerControl control, WorkerViews views, CancellationToken ct) =>
            ActAsync(name, views, c => control.ResumeAsync(name, c), "resume", ct));
        return app;
    }

    /// <summary>
    /// Only known workers; 202 once the command is confirmed by the broker (the worker applies it on receipt). When
    /// the broker does not confirm it, 503: the command may still arrive, and sending it again is harmless (drain,
    /// pause and resume are idempotent on the worker).
    /// </summary>
    private static async Task<IResult> ActAsync(string name, WorkerViews views, Func<CancellationToken, Task> send, string action, CancellationToken ct)
    {
        var workers = await views.ListAsync(ct);
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
}
