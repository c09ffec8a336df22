using System.Net;
using System.Net.Http.Json;
using BuildFarm.Dispatcher.Api;

namespace BuildFarm.Dispatcher.Submission;

/// <summary>The CLI's side of the dispatcher's JSON API.</summary>
internal sealed class DispatcherClient(HttpClient http) : IDisposable
{
    public static DispatcherClient Create(string url) => new(new HttpClient { BaseAddress = new Uri(url.TrimEnd('/') + "/"), Timeout = TimeSpan.FromSeconds(60) });

    /// <summary>Submits; returns the response or the dispatcher's error text (refusals included, verbatim).</summary>
    public async Task<(SubmitBuildResponse? Accepted, string? Error)> SubmitAsync(SubmitBuildBody body, CancellationToken cancellationToken)
    {
        using var response = await http.PostAsJsonAsync("api/builds", body, cancellationToken);
        if (response.StatusCode == HttpStatusCode.Accepted)
            return (await response.Content.ReadFromJsonAsync<SubmitBuildResponse>(cancellationToken), null);
        return (null, await ErrorAsync(response, cancellationToken));
    }

    public async Task<BuildView> GetAsync(Guid id, CancellationToken cancellationToken) =>
        (await http.GetFromJsonAsync<BuildView>($"api/builds/{id}", cancellationToken))!;

    public async Task<LogView> LogAsync(Guid id, long after, CancellationToken cancellationToken) =>
        (await http.GetFromJsonAsync<LogView>($"api/builds/{id}/log?after={after}", cancellationToken))!;

    /// <summary>Creates a graph; returns the response or the dispatcher's error text verbatim.</summary>
    public async Task<(SubmitGraphResponse? Accepted, string? Error)> SubmitGraphAsync(SubmitGraphBody body, CancellationToken cancellationToken)
    {
        using var response = await http.PostAsJsonAsync("api/graphs", body, cancellationToken);
        if (response.StatusCode == HttpStatusCode.Accepted)
            return (await response.Content.ReadFromJsonAsync<SubmitGraphResponse>(cancellationToken), null);
        return (null, await ErrorAsync(response, cancellationToken));
    }

    public async Task<GraphView> GetGraphAsync(Guid id, CancellationToken cancellationToken) =>
        (await http.GetFromJsonAsync<GraphView>($"api/graphs/{id}", cancellationToken))!;

    public async Task CancelAsync(Guid id, CancellationToken cancellationToken)
    {
        using var response = await http.PostAsync(new Uri($"api/builds/{id}/cancel", UriKind.Relative), null, cancellationToken);
    }

    private static async Task<string> ErrorAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        try
        {
            var error = await response.Content.ReadFromJsonAsync<ErrorResponse>(cancellationToken);
            if (error?.Error is { Length: > 0 } text)
                return text;
        }
        catch (System.Text.Json.JsonException)
        {
        }

        return $"dispatcher answered {(int)response.StatusCode} {response.ReasonPhrase}";
    }

    public void Dispose() => http.Dispose();
}
