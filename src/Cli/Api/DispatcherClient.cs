using System.CommandLine;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using BuildFarm.Dispatcher.Api;

namespace BuildFarm.Cli.Api;

/// <summary>
/// The one client of the dispatcher's HTTP API that every command uses. The URL comes from <c>--url</c>, else
/// <c>BUILDFARM_URL</c>, else the farm directory named by <c>FARM_DIR</c>, else the default; the bearer token from
/// <c>--token</c>, else <c>BUILDFARM_UI__TOKEN</c>, and it is sent on every request. A refusal or an unreachable
/// dispatcher becomes a <see cref="CliError"/> with the dispatcher's own reason.
/// </summary>
internal sealed class DispatcherClient(HttpClient http, string url) : IDisposable
{
    public string Url => url;

    /// <summary>Adds <c>--url</c> and <c>--token</c> to a command; <see cref="Connect"/> reads them back.</summary>
    public static DispatcherClientOptions AddOptions(Command command)
    {
        var options = new DispatcherClientOptions(
            new Option<string?>("--url") { Description = $"Dispatcher API (default: $BUILDFARM_URL, else $FARM_DIR/dispatcher.url, else {FarmEnv.DefaultUrl})" },
            new Option<string?>("--token") { Description = "Bearer token of a dispatcher with Ui:Token set (default: $BUILDFARM_UI__TOKEN or $BUILDFARM_DISPATCHER__Ui__Token)" });
        command.Options.Add(options.Url);
        command.Options.Add(options.Token);
        return options;
    }

    /// <summary>A client from <c>--url</c>/<c>--token</c>; <paramref name="timeout"/> bounds each request (default 60 s).</summary>
    public static DispatcherClient Connect(ParseResult result, DispatcherClientOptions options, TimeSpan? timeout = null) =>
        Create(result.GetValue(options.Url) ?? FarmEnv.DispatcherUrl(), result.GetValue(options.Token) ?? FarmEnv.Token(), timeout);

    /// <summary>A client on the API base URL that sends the token (when there is one) on every request.</summary>
    public static DispatcherClient Create(string url, string? token, TimeSpan? timeout = null)
    {
        if (!Uri.TryCreate(url.TrimEnd('/') + "/", UriKind.Absolute, out var baseUri) || (baseUri.Scheme != "http" && baseUri.Scheme != "https"))
            throw new CliError($"dispatcher URL '{url}' is not an http(s) URL (--url, $BUILDFARM_URL or $FARM_DIR/dispatcher.url)");
#pragma warning disable CA2000 // the client owns the HttpClient and disposes it
        var http = new HttpClient { BaseAddress = baseUri, Timeout = timeout ?? TimeSpan.FromSeconds(60) };
#pragma warning restore CA2000
        if (!string.IsNullOrEmpty(token))
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return new DispatcherClient(http, url);
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

    /// <summary>Submits one build; returns the response, or the dispatcher's refusal verbatim (a 4xx is an answer, not an error).</summary>
    public Task<(SubmitBuildResponse? Accepted, string? Error)> SubmitAsync(SubmitBuildBody body, CancellationToken cancellationToken) =>
        PostOrRefusalAsync<SubmitBuildResponse>("api/builds", body, cancellationToken);

    /// <summary>Creates a graph; returns the response, or the dispatcher's refusal verbatim.</summary>
    public Task<(SubmitGraphResponse? Accepted, string? Error)> SubmitGraphAsync(SubmitGraphBody body, CancellationToken cancellationToken) =>
        PostOrRefusalAsync<SubmitGraphResponse>("api/graphs", body, cancellationToken);

    public Task<BuildView> GetBuildAsync(Guid id, CancellationToken cancellationToken) => GetAsync<BuildView>($"api/builds/{id}", cancellationToken);

    public Task<LogView> LogAsync(Guid id, long after, CancellationToken cancellationToken) =>
        GetAsync<LogView>(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"api/builds/{id}/log?after={after}"), cancellationToken);

    /// <summary>The graph; with <paramref name="since"/> (a previous view's cursor) only the nodes changed after it and those in flight.</summary>
    public Task<GraphView> GetGraphAsync(Guid id, CancellationToken cancellationToken, long? since = null) =>
        GetAsync<GraphView>(since is { } c ? $"api/graphs/{id}?since={c.ToString(System.Globalization.CultureInfo.InvariantCulture)}" : $"api/graphs/{id}", cancellationToken);

    public Task CancelAsync(Guid id, CancellationToken cancellationToken) => PostAsync($"api/builds/{id}/cancel", new { }, cancellationToken);

    private async Task<(T? Accepted, string? Error)> PostOrRefusalAsync<T>(string path, object body, CancellationToken cancellationToken)
        where T : class
    {
        using var response = await TrySendAsync(HttpMethod.Post, path, JsonContent.Create(body), cancellationToken);
        if (response.StatusCode == HttpStatusCode.Accepted)
            return (await response.Content.ReadFromJsonAsync<T>(cancellationToken), null);
        if (response.StatusCode == HttpStatusCode.Unauthorized)
            throw Unauthorized();
        return (null, await ReasonAsync(response, cancellationToken));
    }

    /// <summary>GET whose body is copied to <paramref name="destination"/> as it arrives (not buffered); a refusal throws as for <see cref="GetAsync{T}"/>.</summary>
    public async Task DownloadAsync(string path, Stream destination, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(HttpMethod.Get, path, null, cancellationToken, HttpCompletionOption.ResponseHeadersRead);
        await using var body = await response.Content.ReadAsStreamAsync(cancellationToken);
        await body.CopyToAsync(destination, cancellationToken);
    }

    private async Task<HttpResponseMessage> SendAsync(
        HttpMethod method, string path, HttpContent? content, CancellationToken cancellationToken, HttpCompletionOption completion = HttpCompletionOption.ResponseContentRead)
    {
        var response = await TrySendAsync(method, path, content, cancellationToken, completion);
        if (response.IsSuccessStatusCode)
            return response;
        using (response)
        {
            if (response.StatusCode == HttpStatusCode.Unauthorized)
                throw Unauthorized();
            throw new CliError($"{method} {url.TrimEnd('/')}/{path}: {await ReasonAsync(response, cancellationToken)}");
        }
    }

    private async Task<HttpResponseMessage> TrySendAsync(
        HttpMethod method, string path, HttpContent? content, CancellationToken cancellationToken, HttpCompletionOption completion = HttpCompletionOption.ResponseContentRead)
    {
        try
        {
            using var request = new HttpRequestMessage(method, path) { Content = content };
            return await http.SendAsync(request, completion, cancellationToken);
        }
        catch (HttpRequestException e)
        {
            throw new CliError($"cannot reach the dispatcher at {url}: {e.Message} (is `buildfarm serve` or `./farm up` running? --url, $BUILDFARM_URL)") { Unreachable = true };
        }
        catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new CliError($"the dispatcher at {url} did not answer within {http.Timeout.TotalSeconds:0} s") { Unreachable = true };
        }
    }

    private CliError Unauthorized() =>
        new($"{url}: 401 unauthorized: pass the dispatcher's Ui:Token with --token or $BUILDFARM_UI__TOKEN");

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

/// <summary>The <c>--url</c> and <c>--token</c> options of a command that talks to the dispatcher.</summary>
internal sealed record DispatcherClientOptions(Option<string?> Url, Option<string?> Token);
