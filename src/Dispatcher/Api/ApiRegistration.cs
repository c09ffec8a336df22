using BuildFarm.Dispatcher.Metrics;
using BuildFarm.Dispatcher.Ui;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace BuildFarm.Dispatcher.Api;

/// <summary>
/// One call each to wire the HTTP API into the dispatcher host: its read-side services, then auth, every resource's
/// routes (one home per resource: Builds/, Workers/, Classes/, Graphs/, Stats/, Alerts/, Hook/), /metrics and /health.
/// </summary>
internal static class ApiRegistration
{
    /// <summary>Everything is added only when absent, so a host (or a test) may register its own first.</summary>
    public static IServiceCollection AddDispatcherApi(this IServiceCollection services, IConfiguration configuration)
    {
        services.TryAddSingleton(configuration.GetSection(UiOptions.Section).Get<UiOptions>() ?? new UiOptions());
        services.TryAddSingleton<IWorkerControl, MassTransitWorkerControl>();
        services.TryAddSingleton<BuildViews>();
        services.TryAddSingleton<BuildRetry>();
        services.TryAddSingleton<WorkerViews>();
        services.TryAddSingleton<ProbeReplies>();
        services.TryAddSingleton<WorkerProbe>();
        services.TryAddSingleton<ClassViews>();
        services.TryAddSingleton<GraphViews>();
        services.TryAddSingleton<StatsViews>();
        services.TryAddSingleton<AlertViews>();
        services.TryAddSingleton<WorkerStoreReports>();
        // A body or parameter that does not bind throws, so BadRequestMessages can say what was wrong (else: empty 400).
        services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        return services;
    }

    /// <summary>The browser guard, then auth: both must run before every endpoint, the UI's included.</summary>
    public static WebApplication MapDispatcherApi(this WebApplication app)
    {
        var ui = app.Services.GetRequiredService<UiOptions>();
        app.UseBrowserGuard(ui);
        app.UseApiAuth(ui);
        app.UseBadRequestMessages();
        app.MapLogin(ui);
        app.MapBuildRoutes();
        app.MapWorkerRoutes();
        app.MapClassRoutes();
        app.MapGraphRoutes();
        app.MapStatsRoutes();
        app.MapAlertRoutes();
        app.MapHookRoutes();
        app.MapStoreRoutes();
        app.MapDatabaseRoutes();
        app.MapMetrics();
        return app;
    }

    /// <summary>A request the route cannot bind (malformed JSON, wrong types, missing body) answers its 4xx with a message.</summary>
    private static void UseBadRequestMessages(this WebApplication app) => app.Use(async (context, next) =>
    {
        try
        {
            await next(context);
        }
        catch (BadHttpRequestException e) when (!context.Response.HasStarted)
        {
            context.Response.StatusCode = e.StatusCode;
            await context.Response.WriteAsJsonAsync(new ErrorResponse(e.StatusCode + ": " + e.Message), context.RequestAborted);
        }
    });
}
