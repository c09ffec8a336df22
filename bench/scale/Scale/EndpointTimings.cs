using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;

namespace BuildFarm.Scale;

/// <summary>
/// Response times of the busiest API lists and of each UI page, measured as the UI loads it: every API call the page
/// makes (src/Dispatcher/Ui/wwwroot/app.js), in parallel, until the last one has its whole body.
/// </summary>
internal static class EndpointTimings
{
    private const int Rounds = 11;

    private static readonly object HookQuestion = new { system = "x86_64-linux", features = (string[])["kvm"], drvPath = (string?)null };

    // {graph}: the largest graph stored, {build}: the newest succeeded build (looked up once before timing).
    private static readonly (string Name, string[] Urls)[] Targets =
    [
        ("GET /api/builds?limit=100", ["/api/builds?limit=100"]),
        ("GET /api/builds/search (page 1)", ["/api/builds/search?offset=0&limit=50&sort=time&dir=desc"]),
        ("GET /api/builds/search (name filter)", ["/api/builds/search?offset=0&limit=50&sort=time&dir=desc&name=scale-"]),
        ("GET /api/builds/search (page 100)", ["/api/builds/search?offset=5000&limit=50&sort=time&dir=desc"]),
        ("GET /api/builds/search (failed)", ["/api/builds/search?offset=0&limit=50&state=failed"]),
        ("GET /api/builds/search (worker)", ["/api/builds/search?offset=0&limit=50&worker=w042"]),
        ("GET /api/builds/search (sort name)", ["/api/builds/search?offset=0&limit=50&sort=name&dir=asc"]),
        ("GET /api/builds/search (sort state)", ["/api/builds/search?offset=0&limit=50&sort=state&dir=desc"]),
        ("GET /api/workers", ["/api/workers"]),
        ("GET /metrics", ["/metrics"]),
        ("GET /api/alerts", ["/api/alerts"]),
        ("GET /api/classes", ["/api/classes"]),
        ("GET /api/stats/throughput", ["/api/stats/throughput?minutes=60"]),
        ("GET /api/stats/backlog", ["/api/stats/backlog?minutes=60"]),
        ("GET /api/stats/classes", ["/api/stats/classes?minutes=15"]),
        ("GET /api/graphs?limit=100", ["/api/graphs?limit=100"]),
        ("GET /api/graphs/{id} (largest)", ["/api/graphs/{graph}"]),
        ("GET /api/store/roots (all at once)", ["/api/store/roots"]),
        ("GET /api/store/roots (page of 2000)", ["/api/store/roots?limit=2000"]),
        ("GET /api/store/roots (gc's walk)", ["WALK /api/store/roots?limit=2000"]),
        ("POST /api/hook/decide", ["POST /api/hook/decide"]),
        ("UI overview", [
            "/api/builds/search?state=queued&limit=1", "/api/builds/search?state=running&limit=1", "/api/builds/search?state=succeeded&limit=1",
            "/api/builds/search?state=failed&limit=1", "/api/workers", "/api/alerts", "/api/builds/search?state=queued&limit=1&oldest=1",
            "/api/stats/throughput?minutes=60", "/api/stats/backlog?minutes=60"]),
        ("UI queue", ["/api/classes", "/api/builds/search?state=queued&limit=500&oldest=1", "/api/stats/classes?minutes=15"]),
        ("UI workers", ["/api/workers", "/api/builds/search?state=running&limit=500"]),
        ("UI builds", ["/api/builds/search?offset=0&limit=50&sort=time&dir=desc"]),
        ("UI build", ["/api/builds/{build}", "/api/builds/{build}/phases", "/api/builds/{build}/log?after=0", "/api/builds/{build}/derivation"]),
        ("UI graphs", ["/api/graphs?limit=100"]),
        ("UI graph (largest; first page)", ["/api/graphs/{graph}?offset=0&limit=500"]),
    ];

    public static async Task<int> PrintAsync(string api, string label, CancellationToken ct)
    {
        using var http = new HttpClient { BaseAddress = new Uri(api), Timeout = TimeSpan.FromSeconds(60) };
        foreach (var (name, t) in await MeasureAsync(http, ct))
            Console.WriteLine($"[{label}]   {name,-38} {t.P50,8:0.0} ms (max {t.Max:0.0})");
        return 0;
    }

    public static async Task<Dictionary<string, Percentiles>> MeasureAsync(HttpClient http, CancellationToken ct)
    {
        var result = new Dictionary<string, Percentiles>(StringComparer.Ordinal);
        var graphs = await http.GetFromJsonAsync<JsonElement>("/api/graphs?limit=1000", ct);
        var graph = graphs.EnumerateArray().OrderByDescending(g => g.GetProperty("counts").GetProperty("total").GetInt32()).Select(g => g.GetProperty("id").GetString()).FirstOrDefault();
        var builds = await http.GetFromJsonAsync<JsonElement>("/api/builds/search?state=succeeded&limit=1", ct);
        var build = builds.GetProperty("items").EnumerateArray().Select(b => b.GetProperty("id").GetString()).FirstOrDefault();
        foreach (var (name, urls) in Targets)
        {
            if ((graph is null && urls.Any(u => u.Contains("{graph}", StringComparison.Ordinal))) || (build is null && urls.Any(u => u.Contains("{build}", StringComparison.Ordinal))))
                continue;
            var times = new List<double>();
            for (var round = 0; round < Rounds; round++)
            {
                var t = Stopwatch.StartNew();
                await Task.WhenAll(urls.Select(async u =>
                {
                    if (u.StartsWith("WALK ", StringComparison.Ordinal))
                    {
                        await WalkAsync(http, u[5..], ct);
                        return;
                    }

                    using var resp = u.StartsWith("POST ", StringComparison.Ordinal)
                        ? await http.PostAsJsonAsync(u[5..], HookQuestion, ct)
                        : await http.GetAsync(u.Replace("{graph}", graph, StringComparison.Ordinal).Replace("{build}", build, StringComparison.Ordinal), ct);
                    resp.EnsureSuccessStatusCode();
                    await resp.Content.ReadAsByteArrayAsync(ct);
                }));
                times.Add(t.Elapsed.TotalMilliseconds);
            }

            result[name] = Stats.Summary(times.Skip(1)); // the first round warms the JIT and caches; the median of 10
        }

        return result;
    }

    /// <summary>Every page of a cursor-paged list (GET /api/store/roots as `buildfarm store gc` reads it), one after another.</summary>
    private static async Task WalkAsync(HttpClient http, string first, CancellationToken ct)
    {
        var url = first;
        while (true)
        {
            var page = await http.GetFromJsonAsync<JsonElement>(url, ct);
            if (!page.TryGetProperty("more", out var more) || !more.GetBoolean())
                return;
            url = $"{first}&after={Uri.EscapeDataString(page.GetProperty("cursor").GetString()!)}";
        }
    }
}
