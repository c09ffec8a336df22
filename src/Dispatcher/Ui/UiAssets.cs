using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace BuildFarm.Dispatcher.Ui;

/// <summary>The UI's static files, embedded in the assembly (no npm build): <c>/</c> and <c>/ui/{file}</c>.</summary>
internal static class UiAssets
{
    private static readonly Dictionary<string, string> Types = new(StringComparer.Ordinal)
    {
        ["index.html"] = "text/html; charset=utf-8",
        ["app.css"] = "text/css; charset=utf-8",
        ["app.js"] = "text/javascript; charset=utf-8",
        ["login.js"] = "text/javascript; charset=utf-8",
    };

    public static IEndpointRouteBuilder MapUiAssets(this IEndpointRouteBuilder app)
    {
        app.MapGet("/", () => Serve("index.html"));
        app.MapGet("/ui/{file}", (string file) => Serve(file));
        return app;
    }

    private static IResult Serve(string file)
    {
        if (!Types.TryGetValue(file, out var type))
            return Results.NotFound();
        var stream = typeof(UiAssets).Assembly.GetManifestResourceStream("BuildFarm.Dispatcher.Ui.wwwroot." + file);
        return stream is null ? Results.NotFound() : Results.Stream(stream, type);
    }
}
