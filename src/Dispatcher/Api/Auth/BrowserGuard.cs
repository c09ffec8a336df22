using System.Net;
using BuildFarm.Dispatcher.Ui;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace BuildFarm.Dispatcher.Api;

/// <summary>
/// What a hostile web page in the operator's browser could otherwise do to the dispatcher (docs/SECURITY.md,
/// "Hostile browsers"): reach it under a rebound DNS name (refused by the <c>Host</c> check), change state with a
/// cross-origin form or fetch (refused by the <c>Origin</c> / <c>Sec-Fetch-Site</c> / <c>Referer</c> check), frame it or
/// run injected script (CSP, <c>X-Frame-Options</c>, <c>nosniff</c> on every answer). The CLI and the build hook send none
/// of these browser headers, so their requests pass.
/// </summary>
internal static class BrowserGuard
{
    public const string ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        + "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

    private static readonly string[] LoopbackNames = ["localhost", "127.0.0.1", "[::1]"];

    /// <summary>Null when <c>Ui:AllowedHosts</c> is usable; otherwise why the dispatcher refuses to start.</summary>
    public static string? CheckAllowedHosts(UiOptions ui)
    {
        foreach (var host in Split(ui.AllowedHosts))
        {
            if (host != "*" && Uri.CheckHostName(host.Trim('[', ']')) == UriHostNameType.Unknown)
                return $"Ui:AllowedHosts entry '{host}' is not a host name or IP address (e.g. farm.example.com,10.0.0.5; '*' accepts any Host)";
        }

        return null;
    }

    public static IApplicationBuilder UseBrowserGuard(this IApplicationBuilder app, UiOptions ui)
    {
        HashSet<string>? allowed = null;
        var any = Split(ui.AllowedHosts).Contains("*");
        return app.Use(async (context, next) =>
        {
            var headers = context.Response.Headers;
            headers.ContentSecurityPolicy = ContentSecurityPolicy;
            headers.XFrameOptions = "DENY";
            headers.XContentTypeOptions = "nosniff";
            // Not no-referrer: under it browsers send "Origin: null" on same-origin form posts (the login form), which
            // the origin check below could not tell from a sandboxed attacker frame. same-origin leaks nothing off-site.
            headers["Referrer-Policy"] = "same-origin";

            // Built on the first request: the server's bound addresses are only known once it listens.
            allowed ??= AllowedHosts(ui, app.ApplicationServices);
            var request = context.Request;
            var host = request.Host.Host;
            if (!any && !allowed.Contains(host))
            {
                await RefuseAsync(context, StatusCodes.Status421MisdirectedRequest,
                    $"421: Host '{request.Host.Value}' is not one this dispatcher answers to; add it to Ui:AllowedHosts if clients really use that name");
                return;
            }

            if (CrossOrigin(request) is { } why)
            {
                await RefuseAsync(context, StatusCodes.Status403Forbidden, $"403: cross-origin {request.Method} refused ({why})");
                return;
            }

            await next(context);
        });
    }

    /// <summary>Why a state-changing request comes from another site, or null. GET/HEAD/OPTIONS change nothing and pass.</summary>
    internal static string? CrossOrigin(HttpRequest request)
    {
        if (HttpMethods.IsGet(request.Method) || HttpMethods.IsHead(request.Method) || HttpMethods.IsOptions(request.Method))
            return null;
        var self = request.Host.Value ?? "";
        var origin = request.Headers.Origin.ToString();
        var site = request.Headers["Sec-Fetch-Site"].ToString();
        // An opaque origin is only trusted when the browser's fetch metadata vouches for it being this site.
        if (origin == "null" && site == "same-origin")
            return null;
        if (origin.Length > 0)
            return SameAuthority(origin, request, self) ? null : $"Origin '{origin}' is not {request.Scheme}://{self}";
        // No Origin (older browsers on some forms): the fetch metadata, then the referrer, say where it came from.
        if (site.Length > 0 && site is not ("same-origin" or "none"))
            return $"Sec-Fetch-Site is '{site}'";
        var referer = request.Headers.Referer.ToString();
        if (referer.Length > 0 && !SameAuthority(referer, request, self))
            return $"Referer is not {request.Scheme}://{self}";
        return null;
    }

    /// <summary>Same scheme and authority (a default port written or not) as the request itself.</summary>
    private static bool SameAuthority(string url, HttpRequest request, string self)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || !string.Equals(uri.Scheme, request.Scheme, StringComparison.OrdinalIgnoreCase))
            return false;
        var defaultPort = request.IsHttps ? ":443" : ":80";
        var own = self.EndsWith(defaultPort, StringComparison.Ordinal) ? self[..^defaultPort.Length] : self;
        return string.Equals(uri.Authority, own, StringComparison.OrdinalIgnoreCase);
    }

    private static HashSet<string> AllowedHosts(UiOptions ui, IServiceProvider services)
    {
        var set = new HashSet<string>(LoopbackNames, StringComparer.OrdinalIgnoreCase);
        set.UnionWith(Split(ui.AllowedHosts));
        var addresses = services.GetService<IServer>()?.Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
        foreach (var address in addresses)
        {
            if (!Uri.TryCreate(address.Replace("://*", "://0.0.0.0", StringComparison.Ordinal).Replace("://+", "://0.0.0.0", StringComparison.Ordinal), UriKind.Absolute, out var uri))
                continue;
            // A wildcard bind says nothing about the names clients use: those come from Ui:AllowedHosts.
            if (IPAddress.TryParse(uri.Host.Trim('[', ']'), out var ip) && (ip.Equals(IPAddress.Any) || ip.Equals(IPAddress.IPv6Any)))
                continue;
            set.Add(uri.Host);
        }

        return set;
    }

    private static string[] Split(string hosts) => hosts.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    private static Task RefuseAsync(HttpContext context, int status, string message)
    {
        context.Response.StatusCode = status;
        return context.Response.WriteAsJsonAsync(new ErrorResponse(message), context.RequestAborted);
    }
}
