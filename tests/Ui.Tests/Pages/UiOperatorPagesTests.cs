using BuildFarm.Contracts.Builds;
using BuildFarm.Dispatcher.Lifecycle;
using BuildFarm.Dispatcher.Tests.Ui;
using Microsoft.Playwright;

namespace BuildFarm.Ui.Tests.Pages;

/// <summary>Throughput chart, alerts, class rates, dead workers, phase timeline, retry and sorting, in headless Chromium.</summary>
public sealed class UiOperatorPagesTests(HeadlessChromium chromium) : IClassFixture<HeadlessChromium>
{
    private sealed record Seeded(UiHarness Harness, Guid Failed, Guid Timed);

    private static async Task<Seeded> SeedAsync()
    {
        var h = await UiHarness.StartAsync();
        await h.HeartbeatAsync("builder-1", UiHarness.Caps("x86_64-linux", slots: 4));
        await h.HeartbeatAsync("builder-2", UiHarness.Caps("x86_64-linux", slots: 2));
        await h.HeartbeatAsync("old-box", UiHarness.Caps("x86_64-linux", slots: 1));
        for (var i = 0; i < 12; i++)
        {
            var id = await h.SubmitAsync($"lib{i:D2}");
            await h.StartBuildAsync(id, "builder-1");
            await h.SucceedAsync(id, "builder-1");
        }

        var failed = await h.SubmitAsync("broken");
        await h.StartBuildAsync(failed, "builder-2");
        await h.FailAsync(failed, "builder-2");
        var timed = await h.SubmitAsync("timed");
        await h.StartBuildAsync(timed, "builder-1");
        await h.SucceedWithPhasesAsync(timed, "builder-1", new PhaseTimings(TimeSpan.FromSeconds(1.5), TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(2)));
        var running = await h.SubmitAsync("hello");
        await h.StartBuildAsync(running, "builder-1");
        await h.SubmitAsync("arm-thing", "aarch64-linux");
        await h.Db.RunAsync(s => s.ExecuteAsync("UPDATE workers SET last_seen = $t WHERE name = 'old-box'",
            ("$t", BuildTable.Ms(DateTimeOffset.UtcNow.AddMinutes(-10)))), CancellationToken.None);
        return new Seeded(h, failed, timed);
    }

    [Fact]
    public async Task Overview_ThroughputChartAndAlerts_FromTheApi()
    {
        var seeded = await SeedAsync();
        await using var h = seeded.Harness;
        var page = await chromium.NewPageAsync(height: 900);

        await page.GotoAsync(h.BaseUrl + "/");

        await Assertions.Expect(page.Locator("#throughput [data-sum]")).ToHaveTextAsync("14");
        Assert.Equal(60, await page.Locator("#throughput svg g[data-total]").CountAsync());
        await Assertions.Expect(page.Locator("#throughput svg")).ToHaveAttributeAsync("aria-label", new System.Text.RegularExpressions.Regex("^14 builds finished in the last 60 minutes"));
        await Assertions.Expect(page.Locator("#alerts li[data-kind=no-capable-worker]")).ToContainTextAsync("aarch64-linux");
        await Assertions.Expect(page.Locator("#alerts li[data-kind=worker-silent]")).ToContainTextAsync("old-box");
        // Now: arm-thing waits (no aarch64 worker) and hello runs on builder-1.
        await Assertions.Expect(page.Locator("#backlog [data-now=queued]")).ToHaveTextAsync("1");
        await Assertions.Expect(page.Locator("#backlog [data-now=running]")).ToHaveTextAsync("1");
        Assert.Equal(60, await page.Locator("#backlog svg g[data-minute]").CountAsync());
        await HeadlessChromium.ShotAsync(page, "overview-chart-alerts");
    }

    [Fact]
    public async Task QueuesAndWorkers_ShowRatesAndDeadWorkers()
    {
        var seeded = await SeedAsync();
        await using var h = seeded.Harness;
        var page = await chromium.NewPageAsync(height: 900);

        await page.GotoAsync(h.BaseUrl + "/#/queues");
        // 15 x86_64 builds submitted and 14 finished in the 15-minute window.
        await Assertions.Expect(page.Locator("tr[data-class=x86_64-linux] .rate-in")).ToHaveTextAsync("1.00");
        await Assertions.Expect(page.Locator("tr[data-class=x86_64-linux] .rate-out")).ToHaveTextAsync("0.93");
        await Assertions.Expect(page.Locator("tr[data-class=aarch64-linux] .rate-out")).ToHaveTextAsync("0.00");
        await HeadlessChromium.ShotAsync(page, "queues-rates");

        await page.GotoAsync(h.BaseUrl + "/#/workers");
        await Assertions.Expect(page.Locator("tr[data-worker=old-box] .badge")).ToHaveTextAsync("dead");
        await Assertions.Expect(page.Locator("tr[data-worker=builder-1] .badge")).ToHaveTextAsync("online");
        await HeadlessChromium.ShotAsync(page, "workers-dead");
    }

    [Fact]
    public async Task BuildPage_PhaseTimeline_ShowsReportedPhases()
    {
        var seeded = await SeedAsync();
        await using var h = seeded.Harness;
        var page = await chromium.NewPageAsync(height: 900);

        await page.GotoAsync($"{h.BaseUrl}/#/build/{seeded.Timed}");

        await Assertions.Expect(page.Locator("li[data-phase='build']")).ToContainTextAsync("30.0 s");
        await Assertions.Expect(page.Locator("li[data-phase='input fetch']")).ToContainTextAsync("1.5 s");
        await Assertions.Expect(page.Locator("li[data-phase='upload']")).ToContainTextAsync("2.0 s");
        await Assertions.Expect(page.Locator("li[data-phase='queued']")).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator("li[data-phase='import']")).ToBeVisibleAsync();
        Assert.Equal(5, await page.Locator(".phase-bar .ph").CountAsync());
        await HeadlessChromium.ShotAsync(page, "build-phases");
    }

    [Fact]
    public async Task BuildPage_RetryFailedBuild_OpensTheNewQueuedBuild()
    {
        var seeded = await SeedAsync();
        await using var h = seeded.Harness;
        var page = await chromium.NewPageAsync(height: 900);
        await page.GotoAsync($"{h.BaseUrl}/#/build/{seeded.Failed}");
        await Assertions.Expect(page.Locator("h1 .badge")).ToHaveTextAsync("failed");
        await HeadlessChromium.ShotAsync(page, "build-failed-retry");

        await page.GetByRole(AriaRole.Button, new() { Name = "Retry build" }).ClickAsync();

        await Assertions.Expect(page.Locator("h1 .badge")).ToHaveTextAsync("queued");
        await Assertions.Expect(page.Locator("#head")).ToContainTextAsync("broken.drv");
        Assert.DoesNotContain(seeded.Failed.ToString(), page.Url, StringComparison.Ordinal);
        await Assertions.Expect(page.GetByRole(AriaRole.Button, new() { Name = "Retry build" })).ToHaveCountAsync(0);
        await HeadlessChromium.ShotAsync(page, "build-retried");
    }

    [Fact]
    public async Task BuildsTable_SortsByNameStateAndTime()
    {
        var seeded = await SeedAsync();
        await using var h = seeded.Harness;
        var page = await chromium.NewPageAsync(height: 900);
        await page.GotoAsync($"{h.BaseUrl}/#/builds");
        var firstName = page.Locator("#rows tr").First.Locator("td").First;
        await Assertions.Expect(firstName).ToHaveTextAsync("arm-thing.drv");

        await page.GetByRole(AriaRole.Button, new() { Name = "Derivation" }).ClickAsync();
        await Assertions.Expect(page.Locator("th[data-sort-key=name]")).ToHaveAttributeAsync("aria-sort", "ascending");
        await Assertions.Expect(firstName).ToHaveTextAsync("arm-thing.drv");
        await Assertions.Expect(page.Locator("#rows tr").Nth(1).Locator("td").First).ToHaveTextAsync("broken.drv");
        await page.GetByRole(AriaRole.Button, new() { Name = "Derivation" }).ClickAsync();
        await Assertions.Expect(page.Locator("th[data-sort-key=name]")).ToHaveAttributeAsync("aria-sort", "descending");
        await Assertions.Expect(firstName).ToHaveTextAsync("timed.drv");

        await page.GetByRole(AriaRole.Button, new() { Name = "State" }).ClickAsync();
        await Assertions.Expect(page.Locator("#rows tr").First.Locator(".badge")).ToHaveTextAsync("failed");
        await Assertions.Expect(page.Locator("#rows tr").Nth(1).Locator(".badge")).ToHaveTextAsync("queued");
        await HeadlessChromium.ShotAsync(page, "builds-sorted-state");

        await page.GetByRole(AriaRole.Button, new() { Name = "Submitted" }).ClickAsync();
        await Assertions.Expect(page.Locator("th[data-sort-key=time]")).ToHaveAttributeAsync("aria-sort", "descending");
        await Assertions.Expect(firstName).ToHaveTextAsync("arm-thing.drv");
        await page.GetByRole(AriaRole.Button, new() { Name = "Submitted" }).ClickAsync();
        await Assertions.Expect(firstName).ToHaveTextAsync("lib00.drv");
    }
}
