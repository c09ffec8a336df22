using BuildFarm.Contracts.Builds;
using BuildFarm.Contracts.Workers;
using BuildFarm.Dispatcher.Tests.Ui;
using BuildFarm.Messaging.Routing;
using Microsoft.Playwright;

namespace BuildFarm.Ui.Tests.Pages;

/// <summary>How workers run builders and how each build ran, as the Workers page and the build page show it, in headless Chromium.</summary>
public sealed class UiIsolationTests(HeadlessChromium chromium) : IClassFixture<HeadlessChromium>
{
    [Fact]
    public async Task WorkersPage_UnsandboxedWorker_MarkedWithTheProbeReason()
    {
        await using var h = await UiHarness.StartAsync();
        await h.HeartbeatAsync("bare", TrustedRouting.Declared(UiHarness.Caps("x86_64-linux"), BuildIsolation.Unsandboxed),
            new WorkerIsolation(BuildIsolation.Unsandboxed, "bwrap /nope/bwrap does not exist"));
        await h.HeartbeatAsync("boxed", TrustedRouting.Declared(UiHarness.Caps("x86_64-linux"), BuildIsolation.Sandboxed),
            new WorkerIsolation(BuildIsolation.Sandboxed, "a probe build ran in the sandbox"));
        await h.HeartbeatAsync("old", UiHarness.Caps("x86_64-linux"));
        var page = await chromium.NewPageAsync(height: 900);

        await page.GotoAsync(h.BaseUrl + "/#/workers");

        var bare = page.Locator("tr[data-worker=bare] [data-isolation=unsandboxed]");
        await Assertions.Expect(bare).ToContainTextAsync("unsandboxed: bwrap /nope/bwrap does not exist");
        await Assertions.Expect(bare).ToContainTextAsync("takes only trusted builds");
        await Assertions.Expect(page.Locator("tr[data-worker=boxed] [data-isolation=sandboxed]")).ToHaveTextAsync("sandboxed");
        await Assertions.Expect(page.Locator("tr[data-worker=old] [data-isolation=unknown]")).ToBeVisibleAsync();
        // The routing mark is said by the marker, not repeated among the features.
        await Assertions.Expect(page.Locator("tr[data-worker=bare] td[data-label=Features]")).ToHaveTextAsync("kvm");
        await Assertions.Expect(page.Locator("tr[data-worker=boxed] td[data-label=Features]")).ToHaveTextAsync("kvm");
        await HeadlessChromium.ShotAsync(page, "workers-unsandboxed");
    }

    [Fact]
    public async Task BuildPage_TrustedBuildRanUnsandboxed_SaysSo()
    {
        await using var h = await UiHarness.StartAsync();
        await h.HeartbeatAsync("bare", TrustedRouting.Declared(UiHarness.Caps("x86_64-linux"), BuildIsolation.Unsandboxed),
            new WorkerIsolation(BuildIsolation.Unsandboxed, "no bwrap"));
        var id = await h.SubmitAsync("trusted-one", trusted: true);
        await h.StartBuildAsync(id, "bare", BuildIsolation.Unsandboxed);
        var plain = await h.SubmitAsync("plain-one");
        var page = await chromium.NewPageAsync(height: 900);

        await page.GotoAsync($"{h.BaseUrl}/#/build/{id}");

        await Assertions.Expect(page.Locator("#head dd[data-isolation=unsandboxed]")).ToHaveTextAsync("unsandboxed");
        await Assertions.Expect(page.Locator("#head dd[data-trusted=true]")).ToContainTextAsync("yes");
        await Assertions.Expect(page.Locator("#attempts li").First).ToContainTextAsync("on bare (unsandboxed)");
        await HeadlessChromium.ShotAsync(page, "build-unsandboxed");

        await page.GotoAsync($"{h.BaseUrl}/#/build/{plain}");
        await Assertions.Expect(page.Locator("#head dd[data-trusted=false]")).ToHaveTextAsync("no");
        await Assertions.Expect(page.Locator("#head dd[data-isolation=unknown]")).ToHaveTextAsync("—");
    }
}
