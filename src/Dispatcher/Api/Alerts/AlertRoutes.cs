using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;

namespace BuildFarm.Dispatcher.Api;

/// <summary><c>GET /api/alerts</c> (docs/api.md).</summary>
internal static class AlertRoutes
{
    public static IEndpointRouteBuilder MapAlertRoutes(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/alerts", (AlertViews views, CancellationToken ct) => views.ListAsync(ct));
        return app;
    }
}
