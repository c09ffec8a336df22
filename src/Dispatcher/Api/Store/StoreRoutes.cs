using BuildFarm.Dispatcher.Lifecycle;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace BuildFarm.Dispatcher.Api;

/// <summary>What <c>buildfarm store gc</c> must keep in the origin store, as the dispatcher sees it now.</summary>
/// <param name="Live">Derivations and input closures of queued and running builds, and every derivation and output path of running graphs.</param>
/// <param name="Recent">Output paths of builds that succeeded at or after <paramref name="Since"/>.</param>
/// <param name="Since">The start of the recent window.</param>
/// <param name="Cursor">Pass as <c>after</c> for the next page or, once <paramref name="More"/> is false, for the roots
/// that appeared since (null from a dispatcher older than paging).</param>
/// <param name="More">True when another page follows this one.</param>
public sealed record StoreRootsView(IReadOnlyList<string> Live, IReadOnlyList<string> Recent, DateTimeOffset Since, string? Cursor = null, bool More = false);

/// <summary><c>GET /api/store/roots?recentSeconds=N&amp;limit=L&amp;after=CURSOR</c>: the origin store's roots the dispatcher knows of (docs/api.md).</summary>
internal static class StoreRoutes
{
    public static IEndpointRouteBuilder MapStoreRoutes(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/store/roots", async (long? recentSeconds, int? limit, string? after, LifecycleDatabase db, TimeProvider time, CancellationToken ct) =>
        {
            if (recentSeconds is < 0)
                return Results.BadRequest(new ErrorResponse($"recentSeconds = {recentSeconds} is invalid: must be 0 or more"));
            if (limit is < 1)
                return Results.BadRequest(new ErrorResponse($"limit = {limit} is invalid: must be 1 or more (or absent: every root)"));
            StoreRootsCursor? from = null;
            if (after is not null && !StoreRootsCursor.TryParse(after, out from))
                return Results.BadRequest(new ErrorResponse($"after = '{after}' is invalid: give the cursor of a previous answer"));
            if (from is not null && recentSeconds is not null)
                return Results.BadRequest(new ErrorResponse("recentSeconds is fixed by the first page: give either after or recentSeconds, not both"));
            from ??= StoreRootsCursor.Start((time.GetUtcNow() - TimeSpan.FromSeconds(recentSeconds ?? 0)).ToUnixTimeMilliseconds());
            // One transaction per page: a build cannot move from queued to succeeded between two reads of a page and be
            // missed by both; across pages the cursor's order keeps every root that lasts (StoreRootsCursor).
            var page = await db.ReadAsync(s => StoreRoots.ReadAsync(s, from, limit), ct);
            var since = DateTimeOffset.FromUnixTimeMilliseconds(from.Since);
            // A page keeps the order of its rows; the whole answer (no limit) is sorted, as before paging.
            return Results.Ok(limit is null
                ? new StoreRootsView(Sorted(page.Live), Sorted(page.Recent), since, page.Next.ToString())
                : new StoreRootsView([.. page.Live.Distinct(StringComparer.Ordinal)], [.. page.Recent.Distinct(StringComparer.Ordinal)], since, page.Next.ToString(), page.More));
        });
        return app;
    }

    private static List<string> Sorted(List<string> paths) => [.. paths.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)];
}
