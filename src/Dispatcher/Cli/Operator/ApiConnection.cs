using System.CommandLine;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using BuildFarm.Dispatcher.Api;

namespace BuildFarm.Dispatcher.Cli.Operator;

/// <summary>
/// How the operator commands reach the dispatcher's HTTP API: URL from <c>--url</c>, else <c>BUILDFARM_URL</c>, else
/// <c>.farm/dispatcher.url</c>, else the default; bearer token from <c>--token</c>, else <c>BUILDFARM_UI__TOKEN</c>.
/// </summary>
internal sealed class ApiConnection(HttpClient http, string url) : IDisposable
{
    public string Url => url;

    public static Option<string?> UrlOption() =>
        new("--url") { Description = $"Dispatcher API (default: $BUILDFARM_URL, else .farm/dispatcher.url, else {FarmEnv.DefaultUrl})" };

    public static Option<string?> TokenOption() =>
        new("--token") { Description = "Bearer token of a dispatcher with Ui:Token set (default: $BUILDFARM_UI__TOKEN or $BUILDFARM_DISPATCHER__Ui__Token)" };

    public static ApiConnection Open(ParseResult result, Option<string?> urlOption, Option<string?> tokenOption)
    {
        var url = result.GetValue(urlOption) ?? FarmEnv.DispatcherUrl();
        return new ApiConnection(CreateHttp(url, result.GetValue(tokenOption) ?? FarmEnv.Token()), url);
    }

    /// <summary>An HttpClient on the API base URL that sends the token (when there is one) on every request.</summary>
    public static HttpClient CreateHttp(string url, string? token)
    {
        if (!Uri.TryCreate(url.TrimEnd('/') + "/", UriKind.Absolute, out var baseUri) || (baseUri.Scheme != "http" && baseUri.Scheme != "https"))
            throw new CliError($"dispatcher URL '{url}' is not an http(s) URL (--url, $BUILDFARM_URL or .farm/dispatcher.url)");
        var http = new HttpClient { BaseAddress = baseUri, Timeout = TimeSpan.FromSeconds(60) };
        if (!string.IsNullOrEmpty(token))
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return http;
    }

    public async Task<T> GetAsync<T>(string path, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(HttpMethod.Get, path, null, cancellationToken);
        return (await response.Content.ReadFromJsonAsync<T>(cancellationToken)) ?? throw new CliError($"{url}/{path}: empty answer");
    }

    /// <summary>POST with a JSON body; a non-success answer throws a <see cref="CliError"/> with the dispatcher's reason.</summary>
    public async Task PostAsync(string path, object body, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(HttpMethod.Post, path, JsonContent.Create(body), cancellationToken);
    }

    public async Task<T> PostAsync<T>(string path, object body, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(HttpMethod.Post, path, JsonContent.Create(body), cancellationToken);
        return (await response.Content.ReadFromJsonAsync<T>(cancellationToken)) ?? throw new CliError($"{url}/{path}: empty answer");
    }

    private async Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, HttpContent? content, CancellationToken cancellationToken)
    {
        HttpResponseMessage response;
        try
        {
            using var request = new HttpRequestMessage(method, path) { Content = content };
            response = await http.SendAsync(request, cancellationToken);
        }
        catch (HttpRequestException e)
        {
            throw new CliError($"cannot reach the dispatcher at {url}: {e.Message} (is `buildfarm serve` or `./farm up` running? --url, $BUILDFARM_URL)");
        }
        catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new CliError($"the dispatcher at {url} did not answer within {http.Timeout.TotalSeconds:0} s");
        }

        if (response.IsSuccessStatusCode)
            return response;
        using (response)
        {
            var reason = await ReasonAsync(response, cancellationToken);
            if (response.StatusCode == HttpStatusCode.Unauthorized)
                throw new CliError($"{url}: 401 unauthorized: pass the dispatcher's Ui:Token with --token or $BUILDFARM_UI__TOKEN");
            throw new CliError($"{method} {url.TrimEnd('/')}/{path}: {reason}");
        }
    }

    private static async Task<string> ReasonAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        try
        {
            if (await response.Content.ReadFromJsonAsync<ErrorResponse>(cancellationToken) is { Error.Length: > 0 } error)
                return error.Error;
        }
        catch (System.Text.Json.JsonException)
        {
        }

        return $"dispatcher answered {(int)response.StatusCode} {response.ReasonPhrase}";
    }

    public void Dispose() => http.Dispose();
}
