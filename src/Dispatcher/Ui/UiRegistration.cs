using BuildFarm.Dispatcher.Api;
using BuildFarm.Dispatcher.Metrics;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace BuildFarm.Dispatcher.Ui;

/// <summary>One call each to wire the UI, its API additions, /metrics, /health and auth into the dispatcher host.</summary>
internal static class UiRegistration
{
    public static IServiceCollection AddBuildFarmUi(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddSingleton(configuration.GetSection(UiOptions.Section).Get<UiOptions>() ?? new UiOptions());
        services.TryAddSingleton<IWorkerControl, MassTransitWorkerControl>();
        services.TryAddSingleton<EventObserver>();
        services.TryAddSingleton<OperatorViews>();
        services.TryAddSingleton<ProbeReplies>();
        services.TryAddSingleton<WorkerProbe>();
        services.TryAddSingleton<BuildRetry>();
        return services;
    }

    /// <summary>Call before mapping the dispatcher API: the auth middleware must run before every endpoint.</summary>
    public static WebApplication UseBuildFarmUi(this WebApplication app)
    {
        var ui = app.Services.GetRequiredService<UiOptions>();
        app.UseUiAuth(ui);
        app.MapLogin(ui);
        app.MapUiAssets();
        app.MapUiApi();
        app.MapMetrics();
        app.MapOperatorApi();
        return app;
    }
}
