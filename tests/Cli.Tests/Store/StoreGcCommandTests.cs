using BuildFarm.Contracts.Builds;
using BuildFarm.Dispatcher.Lifecycle;
using BuildFarm.Dispatcher.Tests.Ui;
using BuildFarm.Store.Local;
using BuildFarm.Store.Paths;
using BuildFarm.Testing;

namespace BuildFarm.Cli.Tests.Store;

/// <summary><c>buildfarm store gc</c> over a real origin store and the real dispatcher web app (what its builds need).</summary>
public sealed class StoreGcCommandTests : IDisposable
{
    private readonly TempDirectory _dir = new("store-gc");

    private string Root => _dir.Combine("origin");

    [Fact]
    public async Task Gc_KeepsLiveRecentAndExplicitRootsWithTheirClosure_DeletesTheRestReferrersFirst()
    {
        await using var h = await UiHarness.StartAsync();
        var store = await LocalStore.OpenAsync(StoreLayout.Create("/nix/store", Root));
        var ct = CancellationToken.None;
        var library = await store.AddTextAsync("library", "lib"u8.ToArray(), [], ct);
        var input = await store.AddTextAsync("live-input", "in"u8.ToArray(), [library], ct);
        var recent = await store.AddTextAsync("recent-output", "out"u8.ToArray(), [], ct);
        var linked = await store.AddTextAsync("linked-root", "linked"u8.ToArray(), [], ct);
        var listed = await store.AddTextAsync("listed-root", "listed"u8.ToArray(), [], ct);
        var garbage = await store.AddTextAsync("garbage", "g"u8.ToArray(), [], ct);
        var garbageUser = await store.AddTextAsync("garbage-user", "gu"u8.ToArray(), [garbage], ct);

        // A queued build that needs live-input (and so library), and a build that succeeded just now with recent-output.
        await h.HeartbeatAsync("w1", UiHarness.Caps("x86_64-linux"));
        var info = await store.GetPathInfoAsync(input, ct);
        var libInfo = await store.GetPathInfoAsync(library, ct);
        var queued = await h.Lifecycle.SubmitAsync(new SubmitRequest(
            "/nix/store/cccccccccccccccccccccccccccccccc-queued.drv", "Derive([],[],[],\"x\",\"b\",[],[])", "/nix/store", "x86_64-linux", [], ["out"], 0, false,
            TimeSpan.Zero, TimeSpan.Zero, new OriginEndpoint("origin.example", 22, "buildfarm", "SHA256:" + new string('A', 43), "buildfarm"),
            [new InputPath(input.FullPath, info.NarHash.ToString(), info.NarSize), new InputPath(library.FullPath, libInfo.NarHash.ToString(), libInfo.NarSize)]), ct);
        Assert.True(queued.BuildId is not null, queued.RefusedBecause);
        var done = await h.SubmitAsync("done");
        await h.StartBuildAsync(done, "w1");
        await h.SucceedWithPhasesAsync(done, "w1", new PhaseTimings(TimeSpan.Zero, TimeSpan.Zero, TimeSpan.Zero),
            new BuiltOutput("out", recent.FullPath, "sha256:1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s", 3, [], ["w:sig"]));

        var rootsDir = Directory.CreateDirectory(_dir.Combine("gcroots")).FullName;
        File.CreateSymbolicLink(Path.Combine(rootsDir, "result"), store.PhysicalPath(linked) + "/");
        var rootsFile = _dir.Combine("roots.txt");
        await File.WriteAllTextAsync(rootsFile, $"# kept\n{listed.FullPath}\n");
        string[] common = ["--root", Root, "--store-dir", "/nix/store", "store", "gc", "--url", h.BaseUrl, "--roots-dir", rootsDir, "--roots-file", rootsFile];

        var dry = await CliRun.RunAsync([.. common, "--dry-run"]);
        Assert.True(dry.ExitCode == 0, dry.Stderr);
        var wouldGo = dry.StdoutText.Split('\n').Where(l => l.StartsWith("would delete /", StringComparison.Ordinal)).Select(l => l.Split(' ')[2]).ToArray();
        Assert.Equal([garbageUser.FullPath, garbage.FullPath], wouldGo);
        Assert.True(await store.IsValidAsync(garbage, ct), "a dry run deleted something");

        // With no recent window, the recent output goes too.
        var noRecent = await CliRun.RunAsync([.. common, "--dry-run", "--keep-recent", "0"]);
        Assert.Contains($"would delete {recent.FullPath} ", noRecent.StdoutText, StringComparison.Ordinal);

        var run = await CliRun.RunAsync(common);
        Assert.True(run.ExitCode == 0, run.Stderr);
        Assert.Contains("deleted 2 of 7 paths", run.StdoutText, StringComparison.Ordinal);
        foreach (var kept in new[] { library, input, recent, linked, listed })
            Assert.True(await store.IsValidAsync(kept, ct), $"{kept} was deleted");
        foreach (var gone in new[] { garbage, garbageUser })
        {
            Assert.False(await store.IsValidAsync(gone, ct), $"{gone} was kept");
            Assert.False(File.Exists(store.PhysicalPath(gone)), $"{gone}'s file was kept");
        }
    }

    [Fact]
    public async Task Gc_DispatcherUnreachable_RefusesAndDeletesNothing()
    {
        var store = await LocalStore.OpenAsync(StoreLayout.Create("/nix/store", Root));
        var garbage = await store.AddTextAsync("garbage", "g"u8.ToArray(), [], CancellationToken.None);

        var r = await CliRun.RunAsync("--root", Root, "--store-dir", "/nix/store", "store", "gc", "--url", $"http://127.0.0.1:{FreePort.Next()}");

        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("refused: the dispatcher did not say what its queued and running builds need", r.Stderr, StringComparison.Ordinal);
        Assert.True(await store.IsValidAsync(garbage, CancellationToken.None));
    }

    [Fact]
    public async Task Gc_NixStore_RefusedPointingAtNixsOwnGc()
    {
        var r = await CliRun.RunAsync("--nix", "store", "gc", "--url", "http://127.0.0.1:1");

        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("/nix/store is Nix's own store", r.Stderr, StringComparison.Ordinal);
        Assert.Contains("nix-collect-garbage", r.Stderr, StringComparison.Ordinal);
    }

    public void Dispose() => _dir.Dispose();
}
