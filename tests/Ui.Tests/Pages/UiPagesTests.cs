using BuildFarm.Dispatcher.Tests.Ui;
using Microsoft.Playwright;

namespace BuildFarm.Ui.Tests.Pages;

/// <summary>The real dispatcher web app over a seeded DB, driven in headless Chromium; screenshots per page.</summary>
public sealed class UiPagesTests(HeadlessChromium chromium) : IClassFixture<HeadlessChromium>
{
    private static async Task<(UiHarness Harness, Guid Hello, Guid Failed, Guid Waiting)> SeedAsync()
    {
        var h = await UiHarness.StartAsync();
        await h.HeartbeatAsync("builder-1", UiHarness.Caps("x86_64-linux", slots: 4));
        await h.HeartbeatAsync("builder-2", UiHarness.Caps("x86_64-linux", slots: 2));
        for (var i = 0; i < 30; i++)
        {
            var id = await h.SubmitAsync($"lib{i:D2}");
            await h.StartBuildAsync(id, i % 2 == 0 ? "builder-1" : "builder-2");
            await h.SucceedAsync(id, i % 2 == 0 ? "builder-1" : "builder-2");
        }

        var failed = await h.SubmitAsync("broken");
        await h.StartBuildAsync(failed, "builder-2");
        await h.FailAsync(failed, "builder-2");
        var hello = await h.SubmitAsync("hello");
        await h.StartBuildAsync(hello, "builder-1");
        await h.LogAsync(hello, "builder-1", 1, "unpacking sources\n");
        var waiting = await h.SubmitAsync("arm-thing", "aarch64-linux");
        return (h, hello, failed, waiting);
    }

    [Fact]
    public async Task EveryPage_RendersSeededData_AndScreenshots()
    {
        var (h, hello, _, _) = await SeedAsync();
        await using var _h = h;
        var page = await chromium.NewPageAsync();

        await page.GotoAsync(h.BaseUrl + "/");
        await Assertions.Expect(page.Locator("[data-count=running]")).ToHaveTextAsync("1");
        await Assertions.Expect(page.Locator("[data-count=succeeded]")).ToHaveTextAsync("30");
        await Assertions.Expect(page.Locator("#alerts")).ToContainTextAsync("aarch64-linux");
        await HeadlessChromium.ShotAsync(page, "overview");

        await page.GetByRole(AriaRole.Link, new() { Name = "Queues", Exact = true }).ClickAsync();
        await Assertions.Expect(page.Locator("tr.stand-out")).ToContainTextAsync("aarch64-linux");
        await HeadlessChromium.ShotAsync(page, "queues");

        await page.GetByRole(AriaRole.Link, new() { Name = "Workers", Exact = true }).ClickAsync();
        await Assertions.Expect(page.Locator("tr[data-worker=builder-1]")).ToContainTextAsync("1 / 4");
        await HeadlessChromium.ShotAsync(page, "workers");

        await page.GetByRole(AriaRole.Link, new() { Name = "Builds", Exact = true }).ClickAsync();
        await Assertions.Expect(page.Locator("#pos")).ToHaveTextAsync("1–25 of 33");
        await page.GetByRole(AriaRole.Button, new() { Name = "Older →" }).ClickAsync();
        await Assertions.Expect(page.Locator("#pos")).ToHaveTextAsync("26–33 of 33");
        await HeadlessChromium.ShotAsync(page, "builds");

        await page.GotoAsync($"{h.BaseUrl}/#/build/{hello}");
        await Assertions.Expect(page.Locator("#log")).ToContainTextAsync("unpacking sources");
        await Assertions.Expect(page.Locator("#drv [data-field=Builder]")).ToHaveTextAsync("/bin/sh");
        await Assertions.Expect(page.Locator("#drv [data-field=Outputs]")).ToContainTextAsync("-hello");
        await page.Locator("#drv details summary").ClickAsync();
        await Assertions.Expect(page.Locator("#drv details")).ToContainTextAsync("x86_64-linux");
        await HeadlessChromium.ShotAsync(page, "build");
    }

    [Fact]
    public async Task BuildPage_StateChangeAndLog_ShowUpWithoutReload()
    {
        var (h, hello, _, _) = await SeedAsync();
        await using var _h = h;
        var page = await chromium.NewPageAsync();
        await page.GotoAsync($"{h.BaseUrl}/#/build/{hello}");
        await Assertions.Expect(page.Locator("h1 .badge")).ToHaveTextAsync("running");

        await h.LogAsync(hello, "builder-1", 2, "building hello\n");
        await Assertions.Expect(page.Locator("#log")).ToContainTextAsync("building hello");
        await h.SucceedAsync(hello, "builder-1");
        await Assertions.Expect(page.Locator("h1 .badge")).ToHaveTextAsync("succeeded");
        await Assertions.Expect(page.Locator("#outputs")).ToContainTextAsync("sha256:1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s");
        await Assertions.Expect(page.Locator("#log")).ToHaveTextAsync("unpacking sources\nbuilding hello\n");
    }

    [Fact]
    public async Task BuildPage_LogSlowerThanThePollInterval_ShowsEachChunkOnce()
    {
        var (h, hello, _, _) = await SeedAsync();
        await using var _h = h;
        var page = await chromium.NewPageAsync();
        // Every log request takes longer than the 1.5 s poll interval, as on a loaded dispatcher.
        var answered = 0;
        await page.RouteAsync("**/api/builds/*/log*", async route =>
        {
            await Task.Delay(2500);
            await route.ContinueAsync();
        });
        page.RequestFinished += (_, request) =>
        {
            if (request.Url.Contains("/log?", StringComparison.Ordinal))
                Interlocked.Increment(ref answered);
        };

        await page.GotoAsync($"{h.BaseUrl}/#/build/{hello}");
        await Assertions.Expect(page.Locator("#log")).ToContainTextAsync("unpacking sources");
        // Three more slow polls, each started while the previous could still have been in flight, would each have
        // appended the chunk again before the fix; a loaded CI machine may take a while for them.
        var seen = answered;
        var deadline = DateTime.UtcNow.AddSeconds(150);
        while (answered < seen + 3)
        {
            Assert.True(DateTime.UtcNow < deadline, $"only {answered - seen} more log polls finished in 150 s");
            await Task.Delay(200);
        }

        await Assertions.Expect(page.Locator("#log")).ToHaveTextAsync("unpacking sources\n");
    }

    [Fact]
    public async Task BuildsFilter_FindsBuildByNameAndState()
    {
        var (h, _, failed, _) = await SeedAsync();
        await using var _h = h;
        var page = await chromium.NewPageAsync();
        await page.GotoAsync($"{h.BaseUrl}/#/builds");
        await page.GetByLabel("Name").FillAsync("broken");
        await page.GetByLabel("State").SelectOptionAsync("failed");
        await page.GetByLabel("Name").PressAsync("Enter");
        await Assertions.Expect(page.Locator("#pos")).ToHaveTextAsync("1–1 of 1");
        await page.GetByRole(AriaRole.Link, new() { Name = "broken.drv" }).ClickAsync();
        await Assertions.Expect(page.Locator("#head")).ToContainTextAsync(failed.ToString());
        await Assertions.Expect(page.Locator("#head")).ToContainTextAsync("builder exited with code 1");
    }

    [Fact]
    public async Task WorkersDrainButton_SendsDrainCommand()
    {
        var (h, _, _, _) = await SeedAsync();
        await using var _h = h;
        var page = await chromium.NewPageAsync();
        page.Dialog += async (_, dialog) => await dialog.AcceptAsync("maintenance");
        await page.GotoAsync($"{h.BaseUrl}/#/workers");
        await page.Locator("tr[data-worker=builder-2] button[data-action=drain]").ClickAsync();
        await Assertions.Expect(page.Locator("#msg")).ToHaveTextAsync("drain sent to builder-2.");
        Assert.Contains("drain builder-2 maintenance", h.WorkerControl.Commands);
    }

    [Fact]
    public async Task PhoneWidth_PagesRenderStacked()
    {
        var (h, _, _, _) = await SeedAsync();
        await using var _h = h;
        var page = await chromium.NewPageAsync(390, 844);
        await page.GotoAsync(h.BaseUrl + "/");
        await Assertions.Expect(page.Locator("[data-count=running]")).ToHaveTextAsync("1");
        await HeadlessChromium.ShotAsync(page, "overview-phone");
        await page.GotoAsync($"{h.BaseUrl}/#/workers");
        await Assertions.Expect(page.Locator("tr[data-worker=builder-1]")).ToBeVisibleAsync();
        var scrollWidth = await page.EvaluateAsync<int>("document.documentElement.scrollWidth");
        Assert.True(scrollWidth <= 390, $"page is {scrollWidth} px wide at a 390 px viewport (horizontal scrolling)");
        await HeadlessChromium.ShotAsync(page, "workers-phone");
        await page.GotoAsync($"{h.BaseUrl}/#/builds");
        await Assertions.Expect(page.Locator("#pos")).ToHaveTextAsync("1–25 of 33");
        await HeadlessChromium.ShotAsync(page, "builds-phone");
    }

    [Fact]
    public async Task WorkersAndQueues_CountsLinkToTheirFilteredBuilds()
    {
        var (h, _, _, _) = await SeedAsync();
        await using var _h = h;
        var page = await chromium.NewPageAsync();
        await page.GotoAsync(h.BaseUrl + "/#/workers");

        await page.GetByRole(AriaRole.Link, new() { Name = "builds on builder-2" }).ClickAsync();

        // builder-2: 15 of the 30 libs and the failed "broken".
        await Assertions.Expect(page.Locator("#pos")).ToHaveTextAsync("1–16 of 16");
        await Assertions.Expect(page.GetByLabel("Worker")).ToHaveValueAsync("builder-2");
        await page.GotoAsync(h.BaseUrl + "/#/queues");
        await page.GetByRole(AriaRole.Link, new() { Name = "queued builds of aarch64-linux" }).ClickAsync();
        await Assertions.Expect(page.Locator("#pos")).ToHaveTextAsync("1–1 of 1");
        await Assertions.Expect(page.Locator("#rows tr").First.Locator("td").First).ToHaveTextAsync("arm-thing.drv");
        await Assertions.Expect(page.GetByLabel("State")).ToHaveValueAsync("queued");
    }

    [Fact]
    public async Task Login_WithTokenConfigured_FormRefusesWrongTokenAndLetsTheRightOneIn()
    {
        await using var h = await UiHarness.StartAsync(token: "ui-s3cret");
        await h.HeartbeatAsync("builder-1", UiHarness.Caps("x86_64-linux"));
        var page = await chromium.NewPageAsync();

        await page.GotoAsync(h.BaseUrl + "/#/workers");
        await Assertions.Expect(page.GetByLabel("Access token")).ToBeFocusedAsync();
        await HeadlessChromium.ShotAsync(page, "login");
        await page.GetByLabel("Access token").FillAsync("guess");
        await page.Keyboard.PressAsync("Enter");
        await Assertions.Expect(page.GetByRole(AriaRole.Alert)).ToHaveTextAsync("Wrong token.");
        await page.GetByLabel("Access token").FillAsync("ui-s3cret");
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();

        // Back on the page that asked for the login (the wrong try kept it too).
        await Assertions.Expect(page.Locator("tr[data-worker=builder-1] .badge")).ToHaveTextAsync("online");
        Assert.EndsWith("/#/workers", page.Url, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SignedOutWhilePolling_GoesToLoginAndBackToTheSamePage()
    {
        await using var h = await UiHarness.StartAsync(token: "ui-s3cret");
        var hello = await h.SubmitAsync("hello");
        var page = await chromium.NewPageAsync();
        await page.GotoAsync($"{h.BaseUrl}/#/build/{hello}");
        await page.GetByLabel("Access token").FillAsync("ui-s3cret");
        await page.Keyboard.PressAsync("Enter");
        await Assertions.Expect(page.Locator("h1 .badge")).ToHaveTextAsync("queued");

        // The cookie goes (as when the token is rotated): the next poll's 401 leads to the login form, keeping the route.
        await page.Context.ClearCookiesAsync();

        await Assertions.Expect(page.GetByLabel("Access token")).ToBeVisibleAsync();
        Assert.EndsWith($"/login#/build/{hello}", page.Url, StringComparison.Ordinal);
        await page.GetByLabel("Access token").FillAsync("ui-s3cret");
        await page.Keyboard.PressAsync("Enter");
        await Assertions.Expect(page.Locator("h1 .badge")).ToHaveTextAsync("queued");
        Assert.EndsWith($"/#/build/{hello}", page.Url, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WorkersPage_FocusedButton_KeepsTheFocusWhenAPollRewritesTheTable()
    {
        var (h, _, _, _) = await SeedAsync();
        await using var _h = h;
        var page = await chromium.NewPageAsync();
        await page.GotoAsync($"{h.BaseUrl}/#/workers");
        var row = page.Locator("tr[data-worker=builder-2]");
        var pause = row.Locator("button[data-action=pause]");
        await Assertions.Expect(pause).ToBeEnabledAsync();
        await pause.FocusAsync();
        await row.EvaluateAsync("tr => { tr.dataset.before = 'yes'; }");

        // The worker now reports more slots: the next poll rewrites the row, focused button and all.
        await h.HeartbeatAsync("builder-2", UiHarness.Caps("x86_64-linux", slots: 6));

        await Assertions.Expect(row).ToContainTextAsync("/ 6");
        Assert.Null(await row.GetAttributeAsync("data-before"));
        await Assertions.Expect(pause).ToBeFocusedAsync();
        await page.Keyboard.PressAsync("Shift+Tab");
        await Assertions.Expect(row.Locator("button[data-action=drain]")).ToBeFocusedAsync();
    }
}
