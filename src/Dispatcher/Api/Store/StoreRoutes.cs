using BuildFarm.Dispatcher.Graphs;
using BuildFarm.Dispatcher.Lifecycle;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace BuildFarm.Dispatcher.Api;

/// <summary>What <c>buildfarm store gc</c> must keep in the origin store, as the dispatcher sees it now.</summary>
/// <param name="Live">Derivations and input closures of queued and running builds, and every derivation and output path of running graphs.</param>
/// <param name="Recent">Output paths of builds that succeeded at or after <paramref name="Since"/>.</param>
/// <param name="Since">The start of the recent window.</param>
public sealed record StoreRootsView(IReadOnlyList<string> Live, IReadOnlyList<string> Recent, DateTimeOffset Since);

/// <summary><c>GET /api/store/roots?recentSeconds=N</c>: the origin store's roots the dispatcher knows of (docs/api.md).</summary>
internal static class StoreRoutes
{
    public static IEndpointRouteBuilder MapStoreRoutes(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/store/roots", async (long? recentSeconds, LifecycleDatabase db, TimeProvider time, CancellationToken ct) =>
        {
            if (recentSeconds is < 0)
                return Results.BadRequest(new ErrorResponse($"recentSeconds = {recentSeconds} is invalid: must be 0 or more"));
            var since = time.GetUtcNow() - TimeSpan.FromSeconds(recentSeconds ?? 0);
            // One transaction: a build cannot move from queued to succeeded between the two reads and be missed by both.
            var view = await db.ReadAsync(async s =>
            {
                var live = (await BuildInputTable.LivePathsAsync(s)).Concat(await GraphTable.LivePathsAsync(s));
                var recent = await OutputTable.PathsSucceededSinceAsync(s, since.ToUnixTimeMilliseconds());
                return new StoreRootsView([.. live.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)], [.. recent.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)], since);
            }, ct);
            return Results.Ok(view);
        });
        return app;
    }
}
