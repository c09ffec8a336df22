using BuildFarm.Dispatcher.Tests.Ui;
using Microsoft.Playwright;

namespace BuildFarm.Ui.Tests.Pages;

/// <summary>The Graphs list and a graph's page over a real graph of the harness's origin store, in headless Chromium.</summary>
public sealed class UiGraphPagesTests(HeadlessChromium chromium) : IClassFixture<HeadlessChromium>
{
    /// <summary>app needs libfoo and libbar, both need base: base built, libfoo running, libbar queued, app waiting.</summary>
    private static async Task<(UiHarness Harness, Guid Graph)> SeedAsync()
    {
        var h = await UiHarness.StartAsync();
        await h.HeartbeatAsync("builder-1", UiHarness.Caps("x86_64-linux", slots: 4));
        var graph = await h.CreateGraphAsync("app", new Dictionary<string, string[]>
        {
            ["app"] = ["libfoo", "libbar"],
            ["libfoo"] = ["base"],
            ["libbar"] = ["base"],
        });
        var baseBuild = (await h.GraphNodeBuildAsync(graph, "base"))!.Value;
        await h.StartBuildAsync(baseBuild, "builder-1");
        await h.SucceedAsync(baseBuild, "builder-1");
        await h.TickGraphsAsync();
        await h.StartBuildAsync((await h.GraphNodeBuildAsync(graph, "libfoo"))!.Value, "builder-1");
        return (h, graph);
    }

    [Fact]
    public async Task GraphsPage_ListsTheGraphWithCounts_AndItsPageShowsNodeStatesByLevel()
    {
        var (h, graph) = await SeedAsync();
        await using var _h = h;
        var page = await chromium.NewPageAsync();
        await page.GotoAsync(h.BaseUrl + "/");

        await page.GetByRole(AriaRole.Link, new() { Name = "Graphs", Exact = true }).ClickAsync();
        var row = page.Locator($"tr[data-graph='{graph}']");
        await Assertions.Expect(row).ToContainTextAsync("app.drv");
        await Assertions.Expect(row.Locator(".badge")).ToHaveTextAsync("running");
        await Assertions.Expect(row.Locator("[data-count=done]")).ToHaveTextAsync("1");
        await Assertions.Expect(row.Locator("[data-count=running]")).ToHaveTextAsync("1");
        await Assertions.Expect(row.Locator("[data-count=queued]")).ToHaveTextAsync("1");
        await Assertions.Expect(row.Locator("[data-count=failed]")).ToHaveTextAsync("0");
        await Assertions.Expect(row.Locator("[data-count=total]")).ToHaveTextAsync("4");
        await Assertions.Expect(page.Locator("nav a[aria-current=page]")).ToHaveTextAsync("Graphs");
        await HeadlessChromium.ShotAsync(page, "graphs");

        await row.GetByRole(AriaRole.Link, new() { Name = "app.drv" }).ClickAsync();
        await Assertions.Expect(page.Locator("#head h1 .badge")).ToHaveTextAsync("running");
        await Assertions.Expect(page.Locator("#nodes tr")).ToHaveCountAsync(4);
        var states = new Dictionary<string, (string State, string Level)>
        {
            ["base.drv"] = ("succeeded", "0"), ["libbar.drv"] = ("queued", "1"), ["libfoo.drv"] = ("running", "1"), ["app.drv"] = ("waiting", "2"),
        };
        foreach (var (name, (state, level)) in states)
        {
            var node = page.Locator($"#nodes tr[data-node='{name}']");
            await Assertions.Expect(node.Locator(".badge")).ToHaveTextAsync(state);
            await Assertions.Expect(node.Locator("td[data-label=Level]")).ToHaveTextAsync(level);
        }

        Assert.Equal(["base.drv", "libbar.drv", "libfoo.drv", "app.drv"], await page.Locator("#nodes tr").EvaluateAllAsync<string[]>("rows => rows.map(r => r.dataset.node)"));
        await Assertions.Expect(page.Locator("#nodes tr[data-node='app.drv'] td[data-label=Inputs]")).ToHaveTextAsync("libbar.drv, libfoo.drv");
        await Assertions.Expect(page.Locator("#nodes tr[data-node='app.drv'] td[data-label=Build]")).ToHaveTextAsync("—");
        await HeadlessChromium.ShotAsync(page, "graph");

        // Live: libfoo finishing shows up without a reload; its build link opens the build's page.
        var libfoo = (await h.GraphNodeBuildAsync(graph, "libfoo"))!.Value;
        await h.SucceedAsync(libfoo, "builder-1");
        await Assertions.Expect(page.Locator("#nodes tr[data-node='libfoo.drv'] .badge")).ToHaveTextAsync("succeeded");
        await Assertions.Expect(page.Locator("#head [data-count=done]")).ToHaveTextAsync("2");
        await page.GetByRole(AriaRole.Link, new() { Name = "build of libfoo.drv" }).ClickAsync();
        await Assertions.Expect(page.Locator("#head")).ToContainTextAsync(libfoo.ToString());
        await Assertions.Expect(page.Locator("nav a[aria-current=page]")).ToHaveTextAsync("Builds");
    }

    [Fact]
    public async Task GraphPage_KeyboardOnly_ReachesTheNodeBuildLink_AndFitsPhoneWidth()
    {
        var (h, graph) = await SeedAsync();
        await using var _h = h;
        var page = await chromium.NewPageAsync(390, 844);
        await page.GotoAsync($"{h.BaseUrl}/#/graphs");
        await Assertions.Expect(page.Locator($"tr[data-graph='{graph}'] [data-count=total]")).ToHaveTextAsync("4");
        await HeadlessChromium.ShotAsync(page, "graphs-phone");

        // Tab from the top of the page to the graph's link and follow it with Enter.
        var link = page.Locator($"tr[data-graph='{graph}'] a");
        for (var i = 0; i < 40 && !await link.EvaluateAsync<bool>("a => a === document.activeElement"); i++)
            await page.Keyboard.PressAsync("Tab");
        await Assertions.Expect(link).ToBeFocusedAsync();
        await page.Keyboard.PressAsync("Enter");
        await Assertions.Expect(page.Locator("#nodes tr[data-node='libfoo.drv'] .badge")).ToHaveTextAsync("running");

        var scrollWidth = await page.EvaluateAsync<int>("document.documentElement.scrollWidth");
        Assert.True(scrollWidth <= 390, $"the graph page is {scrollWidth} px wide at a 390 px viewport (horizontal scrolling)");
        await HeadlessChromium.ShotAsync(page, "graph-phone");
    }

    [Fact]
    public async Task GraphPage_MoreThanAPageOfNodes_ShowsPagesOf500InDependencyOrder()
    {
        await using var h = await UiHarness.StartAsync();
        // top needs 600 leaves: 601 nodes, the leaves at level 0 by name, top last at level 1.
        var leaves = Enumerable.Range(0, 600).Select(i => $"leaf{i:D3}").ToArray();
        var shape = leaves.ToDictionary(l => l, _ => Array.Empty<string>());
        shape["top"] = leaves;
        var graph = await h.CreateGraphAsync("top", shape);
        var page = await chromium.NewPageAsync();

        await page.GotoAsync($"{h.BaseUrl}/#/graph/{graph}");

        await Assertions.Expect(page.Locator("#nodes tr")).ToHaveCountAsync(500);
        await Assertions.Expect(page.Locator("#node-pages")).ToContainTextAsync("Derivations 1–500 of 601");
        await Assertions.Expect(page.Locator("#nodes tr").First).ToHaveAttributeAsync("data-node", "leaf000.drv");
        await page.GetByRole(AriaRole.Button, new() { Name = "Next 500" }).ClickAsync();
        await Assertions.Expect(page.Locator("#nodes tr")).ToHaveCountAsync(101);
        await Assertions.Expect(page.Locator("#node-pages")).ToContainTextAsync("Derivations 501–601 of 601");
        await Assertions.Expect(page.Locator("#nodes tr").Last).ToHaveAttributeAsync("data-node", "top.drv");
        await Assertions.Expect(page.Locator("#nodes tr[data-node='top.drv'] td[data-label=Level]")).ToHaveTextAsync("1");
        await Assertions.Expect(page.GetByRole(AriaRole.Button, new() { Name = "Next 500" })).ToBeDisabledAsync();
    }
}
