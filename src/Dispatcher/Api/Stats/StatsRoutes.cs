using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;

namespace BuildFarm.Dispatcher.Api;

/// <summary>The <c>/api/stats</c> charts of the UI's overview and queues (docs/api.md): throughput, class rates, backlog.</summary>
internal static class StatsRoutes
{
    public static IEndpointRouteBuilder MapStatsRoutes(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/stats");
        api.MapGet("/throughput", (int? minutes, StatsViews views, CancellationToken ct) => views.ThroughputAsync(Math.Clamp(minutes ?? 60, 1, 24 * 60), ct));
        api.MapGet("/classes", (int? minutes, StatsViews views, CancellationToken ct) => views.ClassRatesAsync(Math.Clamp(minutes ?? 15, 1, 24 * 60), ct));
        api.MapGet("/backlog", (int? minutes, StatsViews views, CancellationToken ct) => views.BacklogAsync(Math.Clamp(minutes ?? 60, 1, 24 * 60), ct));
        return app;
    }
}
