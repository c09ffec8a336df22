using System.Net;
using System.Net.Http.Json;
using BuildFarm.Cli.Api;
using BuildFarm.Cli.Store;
using BuildFarm.Contracts.Builds;
using BuildFarm.Dispatcher.Api;
using BuildFarm.Dispatcher.Lifecycle;
using BuildFarm.Dispatcher.Tests.Ui;

namespace BuildFarm.Cli.Tests.Store;

/// <summary>How `buildfarm store gc` reads the roots over the real dispatcher web app: every page, then what appeared.</summary>
public sealed class StoreRootsWalkTests
{
    private static readonly OriginEndpoint Origin = new("origin.example", 22, "buildfarm", "SHA256:" + new string('A', 43), "buildfarm");

    [Fact]
    public async Task StartAsync_PagesOfOnePath_SameRootsAsTheWholeAnswer()
    {
        await using var h = await UiHarness.StartAsync();
        await h.HeartbeatAsync("w1", UiHarness.Caps("x86_64-linux"));
        for (var i = 0; i < 4; i++)
            await SubmitAsync(h, $"b{i}", inputs: i);
        await h.CreateGraphAsync("top", new Dictionary<string, string[]> { ["top"] = ["mid"], ["mid"] = [] });
        using var api = DispatcherClient.Create(h.BaseUrl, null);
        var whole = await api.GetAsync<StoreRootsView>("api/store/roots", CancellationToken.None);

        var walk = await StoreRootsWalk.StartAsync(api, 0, 1, CancellationToken.None);

        Assert.True(whole.Live.Count > 10, $"only {whole.Live.Count} roots");
        Assert.Equal(whole.Live.Order(StringComparer.Ordinal), walk.Live.Order(StringComparer.Ordinal));
        Assert.Empty(walk.Appeared);
    }

    [Fact]
    public async Task RefreshAsync_BuildSubmittedAfterTheWalk_ItsDerivationAndClosureAppear()
    {
        await using var h = await UiHarness.StartAsync();
        await h.HeartbeatAsync("w1", UiHarness.Caps("x86_64-linux"));
        await SubmitAsync(h, "before", inputs: 2);
        using var api = DispatcherClient.Create(h.BaseUrl, null);
        var walk = await StoreRootsWalk.StartAsync(api, 0, 2, CancellationToken.None);

        await walk.RefreshAsync(CancellationToken.None);
        Assert.Empty(walk.Appeared);
        var later = await SubmitAsync(h, "later", inputs: 3);
        await walk.RefreshAsync(CancellationToken.None);

        Assert.Equal(later.Order(StringComparer.Ordinal), walk.Appeared.Order(StringComparer.Ordinal));
        Assert.DoesNotContain(later[0], walk.Live);
    }

    [Theory]
    [InlineData("api/store/roots?after=nonsense")]
    [InlineData("api/store/roots?after=1.0.0.0.0.0&recentSeconds=5")]
    [InlineData("api/store/roots?limit=0")]
    public async Task GetRoots_BadQuery_400(string url)
    {
        await using var h = await UiHarness.StartAsync();
        using var client = h.Client();

        using var response = await client.GetAsync(new Uri(url, UriKind.Relative));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.False(string.IsNullOrEmpty((await response.Content.ReadFromJsonAsync<ErrorResponse>())!.Error));
    }

    /// <summary>A queued build with an origin and <paramref name="inputs"/> closure paths: returns its derivation, then its closure.</summary>
    private static async Task<string[]> SubmitAsync(UiHarness h, string name, int inputs)
    {
        var drv = $"/nix/store/{new string('c', 32)}-{name}.drv";
        var closure = Enumerable.Range(0, inputs).Select(i => new InputPath($"/nix/store/{new string('i', 32)}-{name}-{i}", "sha256:x", 1)).ToArray();
        var r = await h.Lifecycle.SubmitAsync(new SubmitRequest(drv, "Derive([],[],[],\"x\",\"b\",[],[])", "/nix/store", "x86_64-linux", [], ["out"], 0, false,
            TimeSpan.Zero, TimeSpan.Zero, Origin, closure), CancellationToken.None);
        Assert.True(r.BuildId is not null, r.RefusedBecause);
        return [drv, .. closure.Select(c => c.Path)];
    }
}
