using System.Net.Http.Json;
using System.Text.Json;
using BuildFarm.Dispatcher.Api;
using BuildFarm.Dispatcher.Tests.Ui;

namespace BuildFarm.Dispatcher.Tests.Api.Graphs;

/// <summary>The fields of /api/graphs and /api/graphs/{id} the UI's Graphs pages read, over a real graph in the harness.</summary>
public sealed class GraphRoutesTests
{
    [Fact]
    public async Task Graphs_ListAndDetail_CarryCountsNodesDependenciesAndBuildIds()
    {
        await using var h = await UiHarness.StartAsync();
        await h.HeartbeatAsync("w1", UiHarness.Caps("x86_64-linux"));
        var graph = await h.CreateGraphAsync("app", new Dictionary<string, string[]> { ["app"] = ["lib"] });
        var lib = (await h.GraphNodeBuildAsync(graph, "lib"))!.Value;
        await h.StartBuildAsync(lib, "w1");
        await h.FailAsync(lib, "w1");
        await h.TickGraphsAsync();
        using var client = h.Client();

        var list = await client.GetFromJsonAsync<JsonElement>("/api/graphs");
        var detail = await client.GetFromJsonAsync<JsonElement>($"/api/graphs/{graph}");

        var row = Assert.Single(list.EnumerateArray());
        Assert.Equal(graph, row.GetProperty("id").GetGuid());
        Assert.Equal("failed", row.GetProperty("state").GetString());
        Assert.EndsWith("-app.drv", row.GetProperty("targets")[0].GetString(), StringComparison.Ordinal);
        var counts = row.GetProperty("counts");
        Assert.Equal((2, 1, 1, 0), (counts.GetProperty("total").GetInt32(), counts.GetProperty("failed").GetInt32(),
            counts.GetProperty("dependencyFailed").GetInt32(), counts.GetProperty("succeeded").GetInt32()));
        Assert.True(row.TryGetProperty("createdAt", out _));
        var nodes = detail.GetProperty("nodes").EnumerateArray().ToDictionary(n => n.GetProperty("drvPath").GetString()![^7..]);
        Assert.Equal(lib, nodes["lib.drv"].GetProperty("buildId").GetGuid());
        Assert.Equal("failed", nodes["lib.drv"].GetProperty("state").GetString());
        Assert.Equal("dependency-failed", nodes["app.drv"].GetProperty("state").GetString());
        Assert.Equal(JsonValueKind.Null, nodes["app.drv"].GetProperty("buildId").ValueKind);
        Assert.Equal(nodes["lib.drv"].GetProperty("drvPath").GetString(), Assert.Single(nodes["app.drv"].GetProperty("dependencies").EnumerateArray()).GetString());
    }

    [Fact]
    public async Task Detail_Since_OnlyNodesChangedAfterTheCursorAndThoseInFlight()
    {
        await using var h = await UiHarness.StartAsync();
        await h.HeartbeatAsync("w1", UiHarness.Caps("x86_64-linux"));
        var graph = await h.CreateGraphAsync("app", new Dictionary<string, string[]> { ["app"] = ["lib", "tool"], ["lib"] = [], ["tool"] = [] });
        using var client = h.Client();
        var first = await client.GetFromJsonAsync<JsonElement>($"/api/graphs/{graph}");
        var cursor = first.GetProperty("cursor").GetInt64();
        var lib = (await h.GraphNodeBuildAsync(graph, "lib"))!.Value;
        await h.StartBuildAsync(lib, "w1");
        await h.SucceedAsync(lib, "w1");
        await h.TickGraphsAsync();

        var changed = await client.GetFromJsonAsync<JsonElement>($"/api/graphs/{graph}?since={cursor}");
        var none = await client.GetFromJsonAsync<JsonElement>($"/api/graphs/{graph}?since={changed.GetProperty("cursor").GetInt64()}");

        Assert.Equal(3, first.GetProperty("nodes").GetArrayLength());
        // lib succeeded (changed), tool is still submitted (in flight); app waits and did not change.
        var names = changed.GetProperty("nodes").EnumerateArray().Select(n => n.GetProperty("drvPath").GetString()![^8..]).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(["-lib.drv", "tool.drv"], names);
        Assert.True(changed.GetProperty("cursor").GetInt64() > cursor);
        Assert.Equal(["tool.drv"], none.GetProperty("nodes").EnumerateArray().Select(n => n.GetProperty("drvPath").GetString()![^8..]).ToArray());
        Assert.Equal(3, none.GetProperty("counts").GetProperty("total").GetInt32());
        Assert.Equal(1, none.GetProperty("counts").GetProperty("succeeded").GetInt32());
    }

    [Fact]
    public async Task Detail_OffsetAndLimit_PagesOfTheDependencyOrderWithLevels()
    {
        await using var h = await UiHarness.StartAsync();
        // app ← lib ← base, app ← tool ← base: levels base 0, lib and tool 1, app 2.
        var graph = await h.CreateGraphAsync("app", new Dictionary<string, string[]>
        {
            ["app"] = ["lib", "tool"], ["lib"] = ["base"], ["tool"] = ["base"], ["base"] = [],
        });
        using var client = h.Client();

        var whole = await client.GetFromJsonAsync<JsonElement>($"/api/graphs/{graph}");
        var second = await client.GetFromJsonAsync<JsonElement>($"/api/graphs/{graph}?offset=1&limit=2");
        var past = await client.GetFromJsonAsync<JsonElement>($"/api/graphs/{graph}?offset=10&limit=2");
        var bad = await client.GetAsync($"/api/graphs/{graph}?limit=0");

        static string[] Rows(JsonElement g) =>
            [.. g.GetProperty("nodes").EnumerateArray().Select(n => $"{n.GetProperty("drvPath").GetString()!.Split('-', 2)[1]}@{n.GetProperty("level").GetInt32()}")];
        Assert.Equal(["base.drv@0", "lib.drv@1", "tool.drv@1", "app.drv@2"], Rows(whole));
        Assert.Equal(["lib.drv@1", "tool.drv@1"], Rows(second));
        Assert.Equal(4, second.GetProperty("counts").GetProperty("total").GetInt32());
        Assert.Empty(Rows(past));
        Assert.Equal(System.Net.HttpStatusCode.BadRequest, bad.StatusCode);
    }

    /// <summary>The detail is written straight from the rows (stored JSON copied): it must be the JSON the records serialise to.</summary>
    [Theory]
    [InlineData("")]
    [InlineData("?offset=1&limit=2")]
    [InlineData("?offset=3")]
    [InlineData("?since=0")]
    public async Task Detail_WrittenFromTheRows_SameJsonAsTheSerialisedView(string query)
    {
        await using var h = await UiHarness.StartAsync();
        await h.HeartbeatAsync("w1", UiHarness.Caps("x86_64-linux"));
        var graph = await h.CreateGraphAsync("app", new Dictionary<string, string[]> { ["app"] = ["lib", "tool"], ["lib"] = ["base"], ["tool"] = ["base"], ["base"] = [] });
        var first = (await h.GraphNodeBuildAsync(graph, "base"))!.Value;
        await h.StartBuildAsync(first, "w1");
        await h.FailAsync(first, "w1");
        await h.TickGraphsAsync();
        using var client = h.Client();

        using var response = await client.GetAsync(new Uri($"/api/graphs/{graph}{query}", UriKind.Relative));
        var written = await response.Content.ReadAsStringAsync();

        Assert.Equal("application/json; charset=utf-8", response.Content.Headers.ContentType?.ToString());
        var view = await response.Content.ReadFromJsonAsync<GraphView>();
        Assert.Equal(JsonSerializer.Serialize(view, JsonSerializerOptions.Web), written);
        Assert.Contains("\"failed\"", written, StringComparison.Ordinal);
        Assert.Contains("\"worker\":null", written, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"targets":[null]}""")]
    [InlineData("""{"targets":[""]}""")]
    [InlineData("""{"targets":"/nix/store/x.drv"}""")]
    [InlineData("""{"targets":[1]}""")]
    [InlineData("""not json""")]
    public async Task Submit_MalformedBody_400WithMessage_Not500(string body)
    {
        await using var h = await UiHarness.StartAsync();
        using var client = h.Client();

        using var response = await client.PostAsync("/api/graphs", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));

        Assert.Equal(System.Net.HttpStatusCode.BadRequest, response.StatusCode);
        var error = await response.Content.ReadFromJsonAsync<BuildFarm.Dispatcher.Api.ErrorResponse>();
        Assert.False(string.IsNullOrWhiteSpace(error!.Error));
    }
}
