using BuildFarm.Integration.Tests.EndToEnd;
using BuildFarm.Testing;
using Microsoft.Playwright;

namespace BuildFarm.Ui.Tests.Live;

/// <summary>
/// The UI in headless Chromium against a live farm: a private RabbitMQ node, the real dispatcher (API, SQLite, lease
/// sweeper, broker consumers) and the published <c>buildfarm-worker</c> as child processes. Nothing is seeded: every
/// state the page shows comes from a real worker building a real derivation. Each test owns a system name, so the
/// tests share one farm without taking each other's builds.
/// </summary>
public sealed class LiveFarmUiTests(LiveUiFarm live, HeadlessChromium chromium) : IClassFixture<LiveUiFarm>, IClassFixture<HeadlessChromium>
{
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(180);
    private readonly EndToEndFarm _farm = live.Farm;

    [Fact]
    public async Task BuildPage_LiveBuild_MovesThroughStatesAndStreamsLogWithoutReload()
    {
        const string system = "uilive-linux";
        using var scratch = BuilderScratch.Create("ui-live-gate");
        var gate = scratch.Combine("gate");
        // The builder prints a first line, then waits for the test to open the gate, so "running" lasts as long as
        // the test needs to see the first line streamed before the build ends.
        var drv = await ShellDerivation.CreateAsync("live-hello", system,
            $"echo compiling-part-one; while [ ! -e {gate} ]; do /bin/sleep 0.2; done; echo linking-part-two; echo done > $out");
        var id = await _farm.SubmitAsync(drv, waitForCapacity: true);
        var page = await chromium.NewPageAsync(1280, 900);
        await page.GotoAsync($"{_farm.BaseUrl}/#/build/{id}");
        var badge = page.Locator("h1 .badge");
        var log = page.Locator("#log");

        // No worker for this system is online yet: the build waits in its queue.
        await Assertions.Expect(badge).ToHaveTextAsync("queued");
        await Assertions.Expect(page.Locator("#drv [data-field=Arguments]")).ToContainTextAsync("echo compiling-part-one");
        await page.EvaluateAsync("() => { window.loadedOnce = true; }");
        await HeadlessChromium.ShotAsync(page, "live-build-queued");

        await using var workers = new LiveWorkers(await _farm.StartWorkersAsync(system, "uilive-a"));
        await Assertions.Expect(badge).ToHaveTextAsync("running", new() { Timeout = 90_000 });
        await Assertions.Expect(log).ToContainTextAsync("compiling-part-one");
        await Assertions.Expect(log).Not.ToContainTextAsync("linking-part-two");
        await Assertions.Expect(page.Locator("#head")).ToContainTextAsync("uilive-a");
        await HeadlessChromium.ShotAsync(page, "live-build-running");

        await File.WriteAllTextAsync(gate, "");

        await Assertions.Expect(badge).ToHaveTextAsync("succeeded", new() { Timeout = 90_000 });
        await Assertions.Expect(log).ToContainTextAsync("linking-part-two");
        await Assertions.Expect(page.Locator("#outputs")).ToContainTextAsync(drv.OutPath);
        await Assertions.Expect(page.Locator("#attempts")).ToContainTextAsync("succeeded");
        Assert.True(await page.EvaluateAsync<bool>("() => window.loadedOnce === true"), "the page was reloaded");
        await HeadlessChromium.ShotAsync(page, "live-build-succeeded");

        var phone = await chromium.NewPageAsync(390, 900);
        await phone.GotoAsync($"{_farm.BaseUrl}/#/build/{id}");
        await Assertions.Expect(phone.Locator("h1 .badge")).ToHaveTextAsync("succeeded");
        await HeadlessChromium.ShotAsync(phone, "live-build-succeeded-phone");
    }

    [Fact]
    public async Task WorkersPage_DrainFromUi_WorkerFinishesItsBuildAndTakesNoMore()
    {
        const string system = "uidrain-linux";
        using var scratch = BuilderScratch.Create("ui-drain-gate");
        var gate = scratch.Combine("gate");
        // uidrain-a has two slots and runs one gated build, so it has room for more when it is drained: only the
        // drain keeps the later builds off it. uidrain-b joins once the gated build runs on uidrain-a.
        await using var workers = new LiveWorkers(await _farm.StartWorkersAsync(system, 2, "uidrain-a"));
        var held = await _farm.SubmitAsync(await ShellDerivation.CreateAsync("held-by-a", system,
            $"while [ ! -e {gate} ]; do /bin/sleep 0.2; done; echo done > $out"));
        Assert.Equal("uidrain-a", (await _farm.WaitRunningAsync(held, Generous)).Worker);
        workers.Add(await _farm.StartWorkersAsync(system, 2, "uidrain-b"));
        var page = await chromium.NewPageAsync(1280, 900);
        await page.GotoAsync($"{_farm.BaseUrl}/#/workers");
        var row = page.Locator("tr[data-worker=uidrain-a]");
        await Assertions.Expect(row.Locator(".badge")).ToHaveTextAsync("online");
        await Assertions.Expect(row).ToContainTextAsync("1 / 2");
        page.Dialog += async (_, dialog) => await dialog.AcceptAsync("disk swap at noon");

        await row.Locator("button[data-action=drain]").ClickAsync();

        await Assertions.Expect(page.Locator("#msg")).ToHaveTextAsync("drain sent to uidrain-a.");
        // The badge turns when the worker itself reports draining in a heartbeat, not when the command is sent;
        // it stays there while the held build runs (drain finishes running builds, then the agent exits).
        await Assertions.Expect(row.Locator(".badge")).ToHaveTextAsync("draining");
        await Assertions.Expect(row).ToContainTextAsync("disk swap at noon");
        await Assertions.Expect(row.Locator("button[data-action=drain]")).ToBeDisabledAsync();
        await Assertions.Expect(row.Locator("button[data-action=resume]")).ToBeDisabledAsync();
        await Assertions.Expect(page.Locator("tr[data-worker=uidrain-b] .badge")).ToHaveTextAsync("online");
        await HeadlessChromium.ShotAsync(page, "live-workers-draining");

        var ids = new List<Guid>();
        for (var i = 0; i < 4; i++)
            ids.Add(await _farm.SubmitAsync(await ShellDerivation.CreateAsync($"after-drain-{i}", system, "echo done > $out")));
        var views = await _farm.WaitFinishedAsync(ids, Generous);

        Assert.All(views, v => Assert.Equal(("succeeded", "uidrain-b"), (v.State, v.Worker)));
        Assert.All(views, v => Assert.DoesNotContain(v.Attempts, a => a.Worker == "uidrain-a"));
        Assert.Equal("running", (await _farm.GetAsync(held)).State);

        await File.WriteAllTextAsync(gate, "");

        var heldView = Assert.Single(await _farm.WaitFinishedAsync([held], Generous));
        Assert.Equal(("succeeded", "uidrain-a", 1), (heldView.State, heldView.Worker, heldView.Attempt));
        await Assertions.Expect(row.Locator(".badge")).ToHaveTextAsync("offline");
        await HeadlessChromium.ShotAsync(page, "live-workers-drained");
    }

    [Fact]
    public async Task WorkersPage_ProbeButton_ShowsTheLiveWorkersAnswer()
    {
        await using var workers = new LiveWorkers(await _farm.StartWorkersAsync("uiprobe-linux", "uiprobe-a"));
        var page = await chromium.NewPageAsync(1280, 900);
        await page.GotoAsync($"{_farm.BaseUrl}/#/workers");

        await page.GetByRole(AriaRole.Button, new() { Name = "Probe workers" }).ClickAsync();

        // This farm has no origin: the worker answers over the broker, signs its answer with a key the dispatcher
        // trusts (every dispatcher has trusted worker keys), and was not asked to reach an origin.
        var row = page.Locator("#probe tr[data-worker=uiprobe-a]");
        await Assertions.Expect(row.Locator(".answered")).ToContainTextAsync("yes, ");
        await Assertions.Expect(row.Locator(".origin")).ToContainTextAsync("not-asked");
        await Assertions.Expect(row.Locator(".keycheck")).ToContainTextAsync("probe answer signed by trusted key 'uiprobe-a-1'");
        await Assertions.Expect(page.Locator("#probe")).ToContainTextAsync("Origin: none configured");
        await HeadlessChromium.ShotAsync(page, "live-workers-probe");
    }

    [Fact]
    public async Task BuildsPage_NameAndStateFilter_FindsTheLiveBuild()
    {
        const string system = "uifilter-linux";
        await using var workers = new LiveWorkers(await _farm.StartWorkersAsync(system, "uifilter-a"));
        var wanted = await _farm.SubmitAsync(await ShellDerivation.CreateAsync("needle-7f3a", system, "echo done > $out"));
        var others = new List<Guid> { wanted };
        for (var i = 0; i < 3; i++)
            others.Add(await _farm.SubmitAsync(await ShellDerivation.CreateAsync($"haystack-{i}", system, "echo done > $out")));
        await _farm.WaitFinishedAsync(others, Generous);
        var page = await chromium.NewPageAsync(1280, 900);
        await page.GotoAsync($"{_farm.BaseUrl}/#/builds");
        await Assertions.Expect(page.Locator("#rows tr").First.Locator("td").First).Not.ToHaveTextAsync("No build matches.");

        await page.GetByLabel("Name").FillAsync("needle-7f3a");
        await page.GetByLabel("State").SelectOptionAsync("succeeded");
        await page.GetByRole(AriaRole.Button, new() { Name = "Filter" }).ClickAsync();

        var rows = page.Locator("#rows tr");
        await Assertions.Expect(rows).ToHaveCountAsync(1);
        await Assertions.Expect(rows.First.Locator("td").First).ToHaveTextAsync("needle-7f3a.drv");
        await Assertions.Expect(rows.First.Locator(".badge")).ToHaveTextAsync("succeeded");
        await Assertions.Expect(rows.First).ToContainTextAsync("uifilter-a");
        await Assertions.Expect(page.Locator("#pos")).ToHaveTextAsync("1–1 of 1");
        await HeadlessChromium.ShotAsync(page, "live-builds-filtered");

        await page.GetByLabel("State").SelectOptionAsync("failed");
        await page.GetByRole(AriaRole.Button, new() { Name = "Filter" }).ClickAsync();
        await Assertions.Expect(rows.First.Locator("td").First).ToHaveTextAsync("No build matches.");

        await page.GetByLabel("State").SelectOptionAsync("succeeded");
        await page.GetByRole(AriaRole.Button, new() { Name = "Filter" }).ClickAsync();
        await rows.First.Locator("a").ClickAsync();
        await Assertions.Expect(page.Locator("#head")).ToContainTextAsync(wanted.ToString());
    }
}
