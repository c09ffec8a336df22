using Microsoft.Playwright;

namespace BuildFarm.Ui.Tests;

/// <summary>
/// Debian's Chromium driven by Playwright, offline: no browser download, no background networking.
/// Screenshots go to artifacts/screenshots/ so people can look at the pages.
/// </summary>
public sealed class HeadlessChromium : IAsyncLifetime
{
    private IPlaywright? _playwright;

    public IBrowser Browser { get; private set; } = null!;

    public static string ScreenshotDir => Path.Combine(BuildFarm.Testing.RepoPaths.Root, "artifacts", "screenshots");

    public async Task InitializeAsync()
    {
        // Pages poll every 1.5 s and the machine is shared and slow: wait generously for what a page should show.
        Assertions.SetDefaultExpectTimeout(30_000);
        _playwright = await Playwright.CreateAsync();
        Browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = "/usr/bin/chromium",
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic", "--no-first-run",
                "--disable-component-update", "--disable-sync"],
        });
        Directory.CreateDirectory(ScreenshotDir);
    }

    /// <summary>A page in a fresh context (own cookies) with the given viewport and, if given, browser time zone.</summary>
    public async Task<IPage> NewPageAsync(int width = 1280, int height = 800, string? timezoneId = null)
    {
        var context = await Browser.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = width, Height = height }, TimezoneId = timezoneId });
        return await context.NewPageAsync();
    }

    /// <summary>A full-page screenshot as <c>artifacts/screenshots/NAME.png</c>.</summary>
    public static Task<byte[]> ShotAsync(IPage page, string name) =>
        page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(ScreenshotDir, name + ".png"), FullPage = true });

    public async Task DisposeAsync()
    {
        await Browser.DisposeAsync();
        _playwright?.Dispose();
    }
}
