using System.Text.Json;
using BuildFarm.Dispatcher.Hosting;
using BuildFarm.Dispatcher.Lifecycle;
using BuildFarm.Dispatcher.Registry;
using BuildFarm.Dispatcher.Submission;
using BuildFarm.Hook.Farm;
using BuildFarm.Messaging.Routing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace BuildFarm.Dispatcher.Api;

/// <summary>
/// The routes a daemon's build hook uses (<c>buildfarm nix-hook</c> / <c>guix-hook</c>, docs/hook.md): a decision
/// per candidate, and one build whose log and end stream back on the same connection.
/// </summary>
internal static partial class HookRoutes
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>How long a hook's stream waits for a change of its build before it reads the database again.</summary>
    private static readonly TimeSpan FollowTimeout = TimeSpan.FromSeconds(1);

    public static IEndpointRouteBuilder MapHookRoutes(this IEndpointRouteBuilder app)
    {
        var hook = app.MapGroup("/api/hook");
        hook.MapPost("/decide", DecideAsync);
        hook.MapPost("/builds", BuildAsync);
        return app;
    }

    private static async Task<IResult> DecideAsync(HookDecideRequest body, BuildLifecycle lifecycle, IOptions<DispatcherOptions> options, TimeProvider time,
        IServiceProvider services, CancellationToken ct)
    {
        BuildClass buildClass;
        try
        {
            buildClass = new BuildClass(body.System, body.Features);
        }
        catch (ArgumentException e)
        {
            return Results.BadRequest(new ErrorResponse(e.Message));
        }

        // The hook never marks builds trusted: a derivation that names the mark itself is declined (Nix builds it locally).
        if (TrustedRouting.ReservedFeatureProblem(body.Features) is { } reserved)
            return Results.Ok(new HookDecideResponse("decline", "", reserved));

        var now = time.GetUtcNow();
        var (workers, open) = await lifecycle.Database.ReadAsync(async s =>
            (await WorkerTable.ListAsync(s), await OpenBuildCounts.ReadAsync(s, now - HookDecider.BrokerStallAfter)), ct);
        // The bus sees a lost broker connection at once; heartbeats and unconfirmed requests only after a while.
        var health = services.GetService<IBusControl>()?.CheckHealth();
        var brokerTrouble = health is null || health.Status == BusHealthStatus.Healthy ? null : $"the dispatcher's broker connection is {health.Status.ToString().ToLowerInvariant()}: {health.Description}";
        return Results.Ok(HookDecider.Decide(workers, open, buildClass, now, lifecycle.Settings.OnlineWindow, brokerTrouble,
            options.Value.HookBacklogPerSlot));
    }

    /// <summary>
    /// Submits and streams NDJSON <see cref="HookBuildEvent"/>s until the build ends, reading the log again whenever
    /// the lifecycle commits a chunk or the end of this build (<see cref="BuildSignals"/>). This connection waits for the
    /// build: if it closes first (the daemon SIGKILLs its hook on Ctrl-C), it stops waiting, and the build is
    /// cancelled when no one else waits for it.
    /// </summary>
    private static async Task BuildAsync(HttpContext http, HookBuildRequest body, DerivationIntake intake, BuildSubmitter submitter,
        BuildLifecycle lifecycle, BuildViews views, TimeProvider time, ILoggerFactory loggers)
    {
        var ct = http.RequestAborted;
        var (drv, error) = await intake.ResolveAsync(body.DrvPath, body.DrvText, ct);
        if (drv is null)
        {
            await Results.BadRequest(new ErrorResponse(error!)).ExecuteAsync(http);
            return;
        }

        var waiter = WaiterTable.HookPrefix + Guid.NewGuid().ToString("N");
        var submitted = await submitter.SubmitAsync(drv, new SubmitSettings(0, false, TimeSpan.Zero, TimeSpan.Zero), ct, waiter: waiter);
        if (submitted.BuildId is not { } id)
        {
            await Results.UnprocessableEntity(new ErrorResponse(submitted.RefusedBecause!)).ExecuteAsync(http);
            return;
        }

        // Checkpoint: the build is recorded (and published or about to be); from here it must end or be cancelled.
        var log = loggers.CreateLogger(typeof(HookRoutes));
        LogHookBuild(log, id, drv.DrvPath);
        http.Response.ContentType = "application/x-ndjson";
        var finished = false;
        try
        {
            long cursor = 0;
            while (true)
            {
                // Taken before the read: a chunk or the end committed after the read still wakes the wait below.
                var changed = lifecycle.Database.Signals.Next(id);
                var chunks = await views.LogAsync(id, cursor, ct);
                foreach (var chunk in chunks!.Chunks)
                    await WriteAsync(http, new HookBuildEvent(chunk.Text, null), ct);
                cursor = chunks.Next;
                if (chunks.Chunks.Count >= 1000)
                    continue;
                if (chunks.State is BuildState.Succeeded or BuildState.Failed or BuildState.Cancelled)
                {
                    var rest = await views.LogAsync(id, cursor, ct);
                    foreach (var chunk in rest!.Chunks)
                        await WriteAsync(http, new HookBuildEvent(chunk.Text, null), ct);
                    var view = (await views.GetAsync(id, ct))!;
                    finished = true;
                    await WriteAsync(http, new HookBuildEvent(null, new HookBuildEnd(id, view.State, view.FailureKind, view.FailureReason, view.Worker,
                        view.Outputs.Select(o => new HookBuildOutput(o.Name, o.Path)).ToArray())), ct);
                    return;
                }

                await http.Response.Body.FlushAsync(ct);
                try
                {
                    await changed.WaitAsync(FollowTimeout, time, ct);
                }
                catch (TimeoutException)
                {
                    // Read again anyway: a wake-up is a hint, and a change made outside the lifecycle's writes has none.
                }
            }
        }
        catch (Exception e) when (!finished && (e is OperationCanceledException or IOException))
        {
            LogHookGone(log, id, drv.DrvPath);
            // Cancelled only when no one else (another hook, a graph, a submission) waits for the same build.
            await lifecycle.LeaveAsync(id, waiter, "the build hook that asked for it went away (nix-build interrupted, or the daemon killed its hook)", CancellationToken.None);
        }
        finally
        {
            lifecycle.Database.Signals.Forget(id);
        }
    }

    private static async Task WriteAsync(HttpContext http, HookBuildEvent e, CancellationToken ct)
    {
        await http.Response.Body.WriteAsync(JsonSerializer.SerializeToUtf8Bytes(e, Json), ct);
        await http.Response.Body.WriteAsync("\n"u8.ToArray(), ct);
        await http.Response.Body.FlushAsync(ct);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Build {BuildId} of {DrvPath} submitted by a daemon's build hook")]
    private static partial void LogHookBuild(ILogger logger, Guid buildId, string drvPath);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The build hook of build {BuildId} ({DrvPath}) went away before the end: cancelling it")]
    private static partial void LogHookGone(ILogger logger, Guid buildId, string drvPath);
}
