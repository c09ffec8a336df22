using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using BuildFarm.Dispatcher.Lifecycle;

namespace BuildFarm.Dispatcher.Tests.Ui;

public sealed class UiApiTests
{
    [Fact]
    public async Task BuildsSearch_FiltersAndPages_ServerSide()
    {
        await using var h = await UiHarness.StartAsync();
        await h.HeartbeatAsync("w1", UiHarness.Caps("x86_64-linux"));
        for (var i = 0; i < 7; i++)
            await h.SubmitAsync($"pkg{i}");
        var hello = await h.SubmitAsync("hello");
        await h.StartBuildAsync(hello, "w1");
        using var client = h.Client();

        var page = await client.GetFromJsonAsync<JsonElement>("/api/builds/search?limit=3&offset=3");
        Assert.Equal(8, page.GetProperty("total").GetInt32());
        Assert.Equal(3, page.GetProperty("items").GetArrayLength());

        var found = await client.GetFromJsonAsync<JsonElement>("/api/builds/search?name=hello&state=running&worker=w1&system=x86_64-linux");
        Assert.Equal(1, found.GetProperty("total").GetInt32());
        Assert.Equal(hello, found.GetProperty("items")[0].GetProperty("id").GetGuid());
        var none = await client.GetFromJsonAsync<JsonElement>("/api/builds/search?name=hello&state=failed");
        Assert.Equal(0, none.GetProperty("total").GetInt32());
    }

    [Fact]
    public async Task BuildsSearch_SinceUntil_BoundTheSubmissionTime()
    {
        await using var h = await UiHarness.StartAsync();
        var yesterday = await h.SubmitAsync("yesterday");
        var lastWeek = await h.SubmitAsync("last-week");
        var today = await h.SubmitAsync("today");
        var now = DateTimeOffset.UtcNow;
        await BackdateAsync(h, yesterday, now.AddDays(-1));
        await BackdateAsync(h, lastWeek, now.AddDays(-7));
        using var client = h.Client();
        string At(DateTimeOffset t) => Uri.EscapeDataString(t.ToString("O", CultureInfo.InvariantCulture));

        var recent = await client.GetFromJsonAsync<JsonElement>($"/api/builds/search?since={At(now.AddDays(-2))}");
        var older = await client.GetFromJsonAsync<JsonElement>($"/api/builds/search?until={At(now.AddDays(-2))}");
        var window = await client.GetFromJsonAsync<JsonElement>($"/api/builds/search?since={At(now.AddDays(-3))}&until={At(now.AddHours(-1))}");

        Assert.Equal([today, yesterday], Ids(recent));
        Assert.Equal([lastWeek], Ids(older));
        Assert.Equal([yesterday], Ids(window));
        var bad = await client.GetAsync("/api/builds/search?since=yesterday-ish");
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Contains("ISO 8601", await bad.Content.ReadAsStringAsync());
        // A culture's date form is not ISO 8601, even where DateTimeOffset.TryParse would take it.
        Assert.Equal(HttpStatusCode.BadRequest, (await client.GetAsync("/api/builds/search?until=11/29/2026")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await client.GetAsync("/api/builds/search?since=29%20Nov%202026")).StatusCode);
        var day = await client.GetFromJsonAsync<JsonElement>($"/api/builds/search?since={now.AddDays(-2):yyyy-MM-dd}");
        Assert.Contains(yesterday, Ids(day));
    }

    [Theory]
    [InlineData("/api/builds", "timeoutSeconds", 1e300)]
    [InlineData("/api/builds", "maxSilentSeconds", -1)]
    [InlineData("/api/graphs", "timeoutSeconds", 1e20)]
    [InlineData("/api/graphs", "maxSilentSeconds", 31_536_001)]
    public async Task Submit_LimitOutOfRange_400NamingTheLimitsAndNothingStored(string route, string field, double seconds)
    {
        await using var h = await UiHarness.StartAsync();
        await h.HeartbeatAsync("w1", UiHarness.Caps("x86_64-linux"));
        using var client = h.Client();
        var body = new Dictionary<string, object>
        {
            ["drvPath"] = "/nix/store/00000000000000000000000000000000-x.drv",
            ["targets"] = new[] { "/nix/store/00000000000000000000000000000000-x.drv" },
            [field] = seconds,
        };

        using var response = await client.PostAsJsonAsync(route, body);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("at most 31536000", await response.Content.ReadAsStringAsync());
        Assert.Equal(0, (await client.GetFromJsonAsync<JsonElement>("/api/builds/search")).GetProperty("total").GetInt32());
        Assert.Equal(0, (await client.GetFromJsonAsync<JsonElement>("/api/graphs")).GetArrayLength());
    }

    private static Task<int> BackdateAsync(UiHarness h, Guid id, DateTimeOffset submittedAt) =>
        h.Db.RunAsync(s => s.ExecuteAsync("UPDATE builds SET submitted_at = $t WHERE id = $id",
            ("$t", BuildTable.Ms(submittedAt)), ("$id", id.ToString())), CancellationToken.None);

    private static Guid[] Ids(JsonElement page) =>
        page.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("id").GetGuid()).ToArray();

    [Fact]
    public async Task BuildDerivation_AsNixShowDerivation_UnknownBuild404()
    {
        await using var h = await UiHarness.StartAsync();
        var id = await h.SubmitAsync("hello");
        using var client = h.Client();
        var drvPath = (await client.GetFromJsonAsync<JsonElement>($"/api/builds/{id}")).GetProperty("drvPath").GetString()!;

        var shown = await client.GetFromJsonAsync<JsonElement>($"/api/builds/{id}/derivation");

        var drv = Assert.Single(shown.EnumerateObject());
        Assert.Equal(drvPath, drv.Name);
        Assert.Equal("/bin/sh", drv.Value.GetProperty("builder").GetString());
        Assert.Equal("x86_64-linux", drv.Value.GetProperty("system").GetString());
        Assert.Equal("hello", drv.Value.GetProperty("env").GetProperty("name").GetString());
        Assert.StartsWith("/nix/store/", drv.Value.GetProperty("outputs").GetProperty("out").GetProperty("path").GetString());
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync($"/api/builds/{Guid.NewGuid()}/derivation")).StatusCode);
    }

    [Fact]
    public async Task WorkerActions_KnownWorker_SendCommands_UnknownWorker_404()
    {
        await using var h = await UiHarness.StartAsync();
        await h.HeartbeatAsync("w1", UiHarness.Caps("x86_64-linux"));
        using var client = h.Client();

        Assert.Equal(HttpStatusCode.Accepted, (await client.PostAsJsonAsync("/api/workers/w1/drain", new { note = "disk swap" })).StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, (await client.PostAsJsonAsync("/api/workers/w1/pause", new { note = (string?)null })).StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, (await client.PostAsJsonAsync("/api/workers/w1/resume", new { })).StatusCode);
        var unknown = await client.PostAsJsonAsync("/api/workers/nope/drain", new { });
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Contains("nope", await unknown.Content.ReadAsStringAsync());
        Assert.Equal(["drain w1 disk swap", "pause w1", "resume w1"], h.WorkerControl.Commands.ToArray());
    }

    [Theory]
    [InlineData("drain")]
    [InlineData("pause")]
    [InlineData("resume")]
    public async Task WorkerAction_BrokerDoesNotConfirm_503WithJsonSayingItIsSafeToRetry(string action)
    {
        await using var h = await UiHarness.StartAsync();
        await h.HeartbeatAsync("w1", UiHarness.Caps("x86_64-linux"));
        using var client = h.Client();
        h.WorkerControl.Failing = true;

        using var response = await client.PostAsJsonAsync($"/api/workers/w1/{action}", new { note = "x" });

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        var error = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error").GetString();
        Assert.Contains($"{action} for 'w1' was not confirmed by the broker", error, StringComparison.Ordinal);
        Assert.Contains("sending it again is safe", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Metrics_ReportStatesQueuesSlotsAndAttempts()
    {
        await using var h = await UiHarness.StartAsync();
        await h.HeartbeatAsync("w1", UiHarness.Caps("x86_64-linux", slots: 4));
        var a = await h.SubmitAsync("a");
        await h.SubmitAsync("b");
        await h.SubmitAsync("c", "aarch64-linux");
        await h.StartBuildAsync(a, "w1");
        using var client = h.Client();

        var metrics = await client.GetStringAsync("/metrics");
        Assert.Contains("buildfarm_builds{state=\"queued\"} 2\n", metrics);
        Assert.Contains("buildfarm_builds{state=\"running\"} 1\n", metrics);
        Assert.Contains("buildfarm_queue_depth{class=\"aarch64-linux\"} 1\n", metrics);
        Assert.Contains("buildfarm_worker_slots{worker=\"w1\"} 4\n", metrics);
        Assert.Contains("buildfarm_worker_slots_used{worker=\"w1\"} 1\n", metrics);
        Assert.Contains("buildfarm_attempts{outcome=\"running\"} 1\n", metrics);
        Assert.Contains("# TYPE buildfarm_queue_depth gauge", metrics);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/health")).StatusCode);
    }

    [Fact]
    public async Task Ui_ServesPagesAndAssets()
    {
        await using var h = await UiHarness.StartAsync();
        using var client = h.Client();

        Assert.Contains("<nav", await client.GetStringAsync("/"));
        var js = await client.GetAsync("/ui/app.js");
        Assert.Equal("text/javascript", js.Content.Headers.ContentType?.MediaType);
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync("/ui/secret.txt")).StatusCode);
    }
}
