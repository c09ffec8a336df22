using System.Globalization;
using BuildFarm.Dispatcher.Lifecycle;
using BuildFarm.Dispatcher.Tests.Ui;
using Microsoft.Playwright;

namespace BuildFarm.Ui.Tests.Pages;

/// <summary>
/// The pages over a database holding 10,000 finished builds (one a minute, back a week): the builds table pages
/// server-side, the time and name filters narrow it, and the overview counts them, in headless Chromium.
/// </summary>
public sealed class UiLargeDatabaseTests(HeadlessChromium chromium) : IClassFixture<HeadlessChromium>
{
    private const int BulkBuilds = 10_000;

    /// <summary>The browser's time zone, so the datetime-local filter values below mean the instants the seed used.</summary>
    private const string Utc = "UTC";

    /// <summary>
    /// Seeds through SQL (the lifecycle would take minutes for 10,000): build i (1-based) was submitted at
    /// <paramref name="minute"/> − i minutes + 30 s, every tenth failed, the rest succeeded on builder-1.
    /// </summary>
    private static Task<int> SeedAsync(UiHarness h, DateTimeOffset minute) => h.Db.RunAsync(s => s.ExecuteAsync(
        """
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $count)
        INSERT INTO builds (id, drv_path, drv_text, store_dir, system, features, wanted_outputs, state, attempt, worker,
                            submitted_at, started_at, finished_at)
        SELECT printf('00000000-0000-4000-8000-%012d', i), printf('/nix/store/%032d-bulk-%05d.drv', i, i), 'Derive()',
               '/nix/store', 'x86_64-linux', '', 'out', CASE WHEN i % 10 = 0 THEN 'failed' ELSE 'succeeded' END, 1,
               'builder-1', $m - i * 60000 + 30000, $m - i * 60000 + 31000, $m - i * 60000 + 40000
        FROM n
        """,
        ("$count", BulkBuilds), ("$m", BuildTable.Ms(minute))), CancellationToken.None);

    private static string Local(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm", CultureInfo.InvariantCulture);

    [Fact]
    public async Task BuildsPage_TenThousandBuilds_PagesAndFiltersByTimeAndName()
    {
        await using var h = await UiHarness.StartAsync();
        await h.HeartbeatAsync("builder-1", UiHarness.Caps("x86_64-linux", slots: 4));
        var now = DateTimeOffset.UtcNow;
        var minute = new DateTimeOffset(now.Year, now.Month, now.Day, now.Hour, now.Minute, 0, TimeSpan.Zero);
        await SeedAsync(h, minute);
        await h.SubmitAsync("fresh-one");
        var page = await chromium.NewPageAsync(1280, 900, Utc);

        await page.GotoAsync(h.BaseUrl + "/");
        await Assertions.Expect(page.Locator("[data-count=succeeded]")).ToHaveTextAsync("9000");
        await Assertions.Expect(page.Locator("[data-count=failed]")).ToHaveTextAsync("1000");
        await HeadlessChromium.ShotAsync(page, "large-overview");

        await page.GotoAsync(h.BaseUrl + "/#/builds");
        var rows = page.Locator("#rows tr");
        await Assertions.Expect(page.Locator("#pos")).ToHaveTextAsync("1–25 of 10001");
        await Assertions.Expect(rows).ToHaveCountAsync(25);
        await Assertions.Expect(rows.First.Locator("td").First).ToHaveTextAsync("fresh-one.drv");
        await page.GetByRole(AriaRole.Button, new() { Name = "Older →" }).ClickAsync();
        await Assertions.Expect(page.Locator("#pos")).ToHaveTextAsync("26–50 of 10001");
        await Assertions.Expect(rows.First.Locator("td").First).ToHaveTextAsync("bulk-00025.drv");

        // Submitted from minute−180 to before minute−60: builds 61…180 (each 30 s past its minute).
        await page.GetByLabel("Submitted from").FillAsync(Local(minute.AddMinutes(-180)));
        await page.GetByLabel("Submitted before").FillAsync(Local(minute.AddMinutes(-60)));
        await page.GetByRole(AriaRole.Button, new() { Name = "Filter" }).ClickAsync();

        await Assertions.Expect(page.Locator("#pos")).ToHaveTextAsync("1–25 of 120");
        await Assertions.Expect(rows.First.Locator("td").First).ToHaveTextAsync("bulk-00061.drv");
        await HeadlessChromium.ShotAsync(page, "large-builds-time-filter");

        await page.GetByLabel("State").SelectOptionAsync("failed");
        await page.GetByRole(AriaRole.Button, new() { Name = "Filter" }).ClickAsync();
        await Assertions.Expect(page.Locator("#pos")).ToHaveTextAsync("1–12 of 12");
        await Assertions.Expect(rows.First.Locator("td").First).ToHaveTextAsync("bulk-00070.drv");

        await page.GetByLabel("State").SelectOptionAsync("");
        await page.GetByLabel("Submitted from").FillAsync("");
        await page.GetByLabel("Submitted before").FillAsync("");
        await page.GetByLabel("Name").FillAsync("bulk-09999");
        await page.GetByRole(AriaRole.Button, new() { Name = "Filter" }).ClickAsync();
        await Assertions.Expect(page.Locator("#pos")).ToHaveTextAsync("1–1 of 1");
        await Assertions.Expect(rows.First.Locator("td").First).ToHaveTextAsync("bulk-09999.drv");
    }

    [Fact]
    public async Task BuildsPage_TenThousandBuilds_FitsPhoneWidth()
    {
        await using var h = await UiHarness.StartAsync();
        var now = DateTimeOffset.UtcNow;
        await SeedAsync(h, new DateTimeOffset(now.Year, now.Month, now.Day, now.Hour, now.Minute, 0, TimeSpan.Zero));
        var page = await chromium.NewPageAsync(390, 900, Utc);

        await page.GotoAsync(h.BaseUrl + "/#/builds");

        await Assertions.Expect(page.Locator("#pos")).ToHaveTextAsync("1–25 of 10000");
        var scrollWidth = await page.EvaluateAsync<int>("() => document.documentElement.scrollWidth");
        Assert.True(scrollWidth <= 390, $"the builds page is {scrollWidth} px wide at a 390 px viewport (horizontal scrolling)");
        await HeadlessChromium.ShotAsync(page, "large-builds-phone");
    }
}
