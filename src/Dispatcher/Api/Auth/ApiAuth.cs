using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using BuildFarm.Dispatcher.Ui;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace BuildFarm.Dispatcher.Api;

/// <summary>
/// Token auth for the whole HTTP surface, API, /metrics and UI alike (the token is <c>Ui:Token</c>): a bearer header
/// (CLI, Prometheus) or the cookie the login form sets (browser). /health and the login form itself stay open. No token configured = open (only allowed on loopback).
/// </summary>
internal static partial class ApiAuth
{
    public const string CookieName = "buildfarm_token";

    /// <summary>Null when the listen address is fine; otherwise why the dispatcher refuses to start.</summary>
    public static string? CheckListen(string listenUrl, UiOptions ui)
    {
        if (ui.Token.Length > 0 || ui.AllowUnauthenticatedRemote)
            return null;
        foreach (var url in listenUrl.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var host = Uri.TryCreate(url.Replace("://*", "://0.0.0.0", StringComparison.Ordinal).Replace("://+", "://0.0.0.0", StringComparison.Ordinal), UriKind.Absolute, out var uri) ? uri.Host : url;
            var loopback = host == "localhost" || (IPAddress.TryParse(host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip));
            if (!loopback)
                return $"Dispatcher:ListenUrl '{url}' is not a loopback address and no Ui:Token is configured: set Ui:Token "
                    + "(env BUILDFARM_DISPATCHER__Ui__Token) or, to expose an unauthenticated farm on purpose, Ui:AllowUnauthenticatedRemote=true";
        }

        return null;
    }

    public static IApplicationBuilder UseApiAuth(this IApplicationBuilder app, UiOptions ui)
    {
        if (ui.Token.Length == 0)
            return app;
        var expected = Encoding.UTF8.GetBytes(ui.Token);
        return app.Use(async (context, next) =>
        {
            var path = context.Request.Path;
            if (path.StartsWithSegments("/health") || path.StartsWithSegments("/login") || path.StartsWithSegments("/ui/app.css") || path.StartsWithSegments("/ui/login.js") || Authorized(context.Request, expected))
            {
                await next(context);
                return;
            }

            context.Response.StatusCode = StatusCodes.Status401Unauthorized;
            if (path.StartsWithSegments("/api") || path.StartsWithSegments("/metrics") || path.StartsWithSegments("/ui"))
            {
                context.Response.Headers.WWWAuthenticate = "Bearer realm=\"buildfarm\"";
                await context.Response.WriteAsJsonAsync(new { error = "401: this dispatcher needs Authorization: Bearer <Ui:Token> or the login cookie" }, context.RequestAborted);
            }
            else
            {
                context.Response.ContentType = "text/html; charset=utf-8";
                await context.Response.WriteAsync(LoginPage(failed: false), context.RequestAborted);
            }
        });
    }

    /// <summary>POST /login (form field <c>token</c>): sets an HttpOnly, SameSite=Strict cookie and goes to the overview.</summary>
    public static void MapLogin(this WebApplication app, UiOptions ui)
    {
        app.MapGet("/login", () => Results.Content(LoginPage(false), "text/html; charset=utf-8"));
        app.MapPost("/login", async (HttpContext context) =>
        {
            if (!context.Request.HasFormContentType)
                return Results.BadRequest(new ErrorResponse("POST /login takes a form (application/x-www-form-urlencoded) with the field 'token'"));
            IFormCollection form;
            try
            {
                form = await context.Request.ReadFormAsync(context.RequestAborted);
            }
            catch (Exception e) when (e is InvalidDataException or BadHttpRequestException)
            {
                return Results.BadRequest(new ErrorResponse("the login form could not be read: " + e.Message));
            }

            var given = form["token"].ToString();
            // Back to the page that asked for the login: only a UI route of this site (a fragment), never another URL.
            var next = UiRoute().IsMatch(form["next"].ToString()) ? form["next"].ToString() : "";
            if (ui.Token.Length == 0 || !Same(Encoding.UTF8.GetBytes(given), Encoding.UTF8.GetBytes(ui.Token)))
                return Results.Content(LoginPage(true, next), "text/html; charset=utf-8", statusCode: StatusCodes.Status401Unauthorized);
            context.Response.Cookies.Append(CookieName, given, new CookieOptions { HttpOnly = true, SameSite = SameSiteMode.Strict, Secure = context.Request.IsHttps, Path = "/" });
            return Results.Redirect("/" + next);
        }).DisableAntiforgery();
    }

    private static bool Authorized(HttpRequest request, byte[] expected)
    {
        var header = request.Headers.Authorization.ToString();
        if (header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) && Same(Encoding.UTF8.GetBytes(header[7..].Trim()), expected))
            return true;
        return request.Cookies.TryGetValue(CookieName, out var cookie) && Same(Encoding.UTF8.GetBytes(cookie), expected);
    }

    [GeneratedRegex(@"^#/[A-Za-z0-9/_.:%=&?-]{0,200}$")]
    private static partial Regex UiRoute();

    private static bool Same(byte[] a, byte[] b) => CryptographicOperations.FixedTimeEquals(a, b);

    /// <summary>The form; <paramref name="next"/> (a checked <c>#/…</c> route) survives a wrong try, the page's own hash wins.</summary>
    private static string LoginPage(bool failed, string next = "") => $$"""
        <!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
        <title>BuildFarm · sign in</title><link rel="stylesheet" href="/ui/app.css"></head>
        <body><main class="login"><h1>BuildFarm</h1>
        <form method="post" action="/login"><label for="token">Access token</label>
        <input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
        <input type="hidden" name="next" id="next" value="{{WebUtility.HtmlEncode(next)}}"><script src="/ui/login.js"></script>
        <button type="submit">Sign in</button>{{(failed ? "<p class=\"error\" role=\"alert\">Wrong token.</p>" : "")}}</form></main></body></html>
        """;
}
