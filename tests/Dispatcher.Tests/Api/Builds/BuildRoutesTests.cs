using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using BuildFarm.Contracts.Builds;
using BuildFarm.Dispatcher.Lifecycle;
using BuildFarm.Dispatcher.Tests.Ui;
using BuildFarm.Store.Derivations;
using BuildFarm.Store.Paths;

namespace BuildFarm.Dispatcher.Tests.Api.Builds;

/// <summary>The /api/builds routes over real Kestrel and a seeded DB: search, limits, derivation, retry and phases.</summary>
public sealed class BuildRoutesTests
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
    public async Task Submit_TrustedBody_BuildSaysTrustedAndHowItsAttemptRan()
    {
        await using var h = await UiHarness.StartAsync();
        await h.HeartbeatAsync("w1", UiHarness.Caps("x86_64-linux"));
        using var client = h.Client();
        var plain = await h.SubmitAsync("plain");
        var compiled = await new DerivationSpecCompiler(StoreDirectory.Nix, (_, _) => throw new InvalidOperationException())
            .CompileAsync(new DerivationSpec { Name = "trusted-one", System = "x86_64-linux", Builder = "/bin/sh" }, CancellationToken.None);

        using var submitted = await client.PostAsJsonAsync("/api/builds", new { drvPath = compiled.DrvPath.FullPath, drvText = compiled.Aterm, waitForCapacity = true, trusted = true });
        Assert.Equal(HttpStatusCode.Accepted, submitted.StatusCode);
        var id = (await submitted.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetGuid();
        await h.StartBuildAsync(id, "w1", BuildIsolation.Unsandboxed);

        var view = await client.GetFromJsonAsync<JsonElement>($"/api/builds/{id}");
        Assert.True(view.GetProperty("trusted").GetBoolean());
        Assert.Equal("x86_64-linux.buildfarm-trusted", view.GetProperty("classKey").GetString());
        Assert.Equal("unsandboxed", view.GetProperty("isolation").GetString());
        Assert.Equal("unsandboxed", view.GetProperty("attempts")[0].GetProperty("isolation").GetString());
        var running = await client.GetFromJsonAsync<JsonElement>("/api/builds/search?state=running");
        Assert.Equal("unsandboxed", running.GetProperty("items")[0].GetProperty("isolation").GetString());
        Assert.True(running.GetProperty("items")[0].GetProperty("trusted").GetBoolean());
        var untrusted = await client.GetFromJsonAsync<JsonElement>($"/api/builds/{plain}");
        Assert.False(untrusted.GetProperty("trusted").GetBoolean());
        Assert.Equal(JsonValueKind.Null, untrusted.GetProperty("isolation").ValueKind);
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
    public async Task Retry_FailedBuild_SubmitsANewBuildOfTheSameDerivation()
    {
        await using var h = await UiHarness.StartAsync();
        await h.HeartbeatAsync("w1", UiHarness.Caps("x86_64-linux"));
        var id = await h.SubmitAsync("hello");
        await h.StartBuildAsync(id, "w1");
        await h.FailAsync(id, "w1");
        using var client = h.Client();

        var response = await client.PostAsync(new Uri($"/api/builds/{id}/retry", UriKind.Relative), null);

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        var newId = body.GetProperty("id").GetGuid();
        Assert.NotEqual(id, newId);
        Assert.Equal(id, body.GetProperty("retryOf").GetGuid());
        var old = await client.GetFromJsonAsync<JsonElement>($"/api/builds/{id}");
        var fresh = await client.GetFromJsonAsync<JsonElement>($"/api/builds/{newId}");
        Assert.Equal("failed", old.GetProperty("state").GetString());
        Assert.Equal("queued", fresh.GetProperty("state").GetString());
        Assert.Equal(old.GetProperty("drvPath").GetString(), fresh.GetProperty("drvPath").GetString());
    }

    [Fact]
    public async Task Retry_RunningOrUnknownBuild_409Or404()
    {
        await using var h = await UiHarness.StartAsync();
        await h.HeartbeatAsync("w1", UiHarness.Caps("x86_64-linux"));
        var id = await h.SubmitAsync("hello");
        await h.StartBuildAsync(id, "w1");
        using var client = h.Client();

        var running = await client.PostAsync(new Uri($"/api/builds/{id}/retry", UriKind.Relative), null);
        var unknown = await client.PostAsync(new Uri($"/api/builds/{Guid.NewGuid()}/retry", UriKind.Relative), null);

        Assert.Equal(HttpStatusCode.Conflict, running.StatusCode);
        Assert.Contains("only a failed or cancelled build", await running.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        var search = await client.GetFromJsonAsync<JsonElement>("/api/builds/search");
        Assert.Equal(1, search.GetProperty("total").GetInt32());
    }

    [Fact]
    public async Task Phases_SucceededWithTimings_QueuedThenFetchBuildUploadImport()
    {
        await using var h = await UiHarness.StartAsync();
        await h.HeartbeatAsync("w1", UiHarness.Caps("x86_64-linux"));
        var id = await h.SubmitAsync("hello");
        await h.StartBuildAsync(id, "w1");
        await h.SucceedWithPhasesAsync(id, "w1", new PhaseTimings(TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(3)));
        using var client = h.Client();

        var view = await client.GetFromJsonAsync<JsonElement>($"/api/builds/{id}/phases");

        var phases = view.GetProperty("phases").EnumerateArray().ToArray();
        Assert.Equal(["queued", "input fetch", "build", "upload", "import"], phases.Select(p => p.GetProperty("name").GetString()!).ToArray());
        Assert.Equal(2, phases[1].GetProperty("seconds").GetDouble());
        Assert.Equal(30, phases[2].GetProperty("seconds").GetDouble());
        Assert.Equal(3, phases[3].GetProperty("seconds").GetDouble());
        Assert.Equal("w1", phases[2].GetProperty("worker").GetString());
        Assert.All(phases, p => Assert.False(p.GetProperty("open").GetBoolean()));
    }

    [Fact]
    public async Task Phases_RunningWithoutTimings_QueuedClosedRunOpen()
    {
        await using var h = await UiHarness.StartAsync();
        await h.HeartbeatAsync("w1", UiHarness.Caps("x86_64-linux"));
        var id = await h.SubmitAsync("hello");
        await h.StartBuildAsync(id, "w1");
        using var client = h.Client();

        var phases = (await client.GetFromJsonAsync<JsonElement>($"/api/builds/{id}/phases")).GetProperty("phases").EnumerateArray().ToArray();

        Assert.Equal(["queued", "running"], phases.Select(p => p.GetProperty("name").GetString()!).ToArray());
        Assert.False(phases[0].GetProperty("open").GetBoolean());
        Assert.True(phases[1].GetProperty("open").GetBoolean());
    }

    private static Task<int> BackdateAsync(UiHarness h, Guid id, DateTimeOffset submittedAt) =>
        h.Db.RunAsync(s => s.ExecuteAsync("UPDATE builds SET submitted_at = $t WHERE id = $id",
            ("$t", BuildTable.Ms(submittedAt)), ("$id", id.ToString())), CancellationToken.None);

    private static Guid[] Ids(JsonElement page) =>
        page.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("id").GetGuid()).ToArray();
}
