using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace BuildFarm.Dispatcher.Api;

/// <summary><c>GET /api/classes</c>: the routing classes (docs/api.md).</summary>
internal static class ClassRoutes
{
    public static IEndpointRouteBuilder MapClassRoutes(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/classes", async (ClassViews views, CancellationToken ct) => Results.Ok(await views.ListAsync(ct)));
        return app;
    }
}
