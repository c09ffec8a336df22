using BuildFarm.Contracts.Builds;
using BuildFarm.Dispatcher.Api;
using BuildFarm.Dispatcher.Graphs;
using BuildFarm.Dispatcher.Lifecycle;
using BuildFarm.Messaging.Requests;
using BuildFarm.Testing;

namespace BuildFarm.Dispatcher.Tests.Api.Store;

/// <summary>
/// The pages of <c>GET /api/store/roots</c> over a real SQLite file: every root on exactly one page whatever the page
/// size, and no root that lasts through the walk missed when builds and graphs change between pages.
/// </summary>
public sealed class StoreRootsTests : IAsyncDisposable
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 6, 10, 0, 0, TimeSpan.Zero);
    private static readonly OriginEndpoint Origin = new("origin.example", 22, "buildfarm", "SHA256:" + new string('A', 43), "buildfarm");
    private readonly TempDirectory _dir = new("store-roots");
    private LifecycleDatabase? _db;
    private int _next;

    private LifecycleDatabase Db => _db!;

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(5)]
    [InlineData(8)]
    [InlineData(1000)]
    public async Task ReadAsync_AnyPageSize_EveryRootOnExactlyOnePage(int limit)
    {
        await SeedAsync();
        var whole = await ReadAsync(StoreRootsCursor.Start(Ms(T0)), null);
        Assert.False(whole.More);

        var pages = await WalkAsync(StoreRootsCursor.Start(Ms(T0)), limit, (_, _) => Task.CompletedTask);

        // Rows read twice would repeat their paths, rows lost would lack them: compare with duplicates kept.
        Assert.Equal(whole.Live.Order(StringComparer.Ordinal), pages.SelectMany(p => p.Live).Order(StringComparer.Ordinal));
        Assert.Equal(whole.Recent.Order(StringComparer.Ordinal), pages.SelectMany(p => p.Recent).Order(StringComparer.Ordinal));
        // A page holds at most the limit, unless one row alone (a build with its closure) is larger.
        Assert.All(pages, p => Assert.True(p.Live.Count + p.Recent.Count <= Math.Max(limit, 4), $"{p.Live.Count + p.Recent.Count} paths on a page of {limit}"));
        Assert.Contains("/nix/store/closure-of-1-0", whole.Live);
        Assert.Contains("/nix/store/out-g2-n2", whole.Live);
        Assert.DoesNotContain("/nix/store/out-g6-n0", whole.Live); // its graph finished
        Assert.Contains("/nix/store/out-s0-dev", whole.Recent);
        Assert.DoesNotContain("/nix/store/out-old", whole.Recent); // before the window
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(4)]
    public async Task ReadAsync_BuildsAndGraphsChangingBetweenPages_EveryLastingRootOnAPageAndEveryNewOneAfterTheLastCursor(int limit)
    {
        var seeded = await SeedAsync();
        var before = await ReadAsync(StoreRootsCursor.Start(Ms(T0)), null);
        var step = 0;

        // Between pages: claim a queued build, send a running one back to the queue, finish one (never one claimed
        // here), submit a build, store a graph.
        var pages = await WalkAsync(StoreRootsCursor.Start(Ms(T0)), limit, async (s, _) =>
        {
            var n = step++;
            if (n >= 6)
                return; // a walk ends once it outpaces new roots
            if (n < 4)
                await BuildTable.ClaimAsync(s, seeded.Queued[^(n + 1)], "w1", T0.AddSeconds(n), T0.AddMinutes(5), null);
            if (n < seeded.Running.Count)
                await BuildTable.RequeueAsync(s, seeded.Running[^(n + 1)], 2);
            if (n == 3)
                await BuildTable.FinishAsync(s, seeded.Queued[0], BuildState.Succeeded, null, null, 0, "w1", T0.AddMinutes(1));
            await InsertBuildAsync(s, closure: 2);
            if (n % 3 == 0)
                await InsertGraphAsync(s, nodes: 2, running: true);
        });
        var last = pages[^1].Next;
        var after = await Db.RunAsync(async s =>
        {
            await InsertBuildAsync(s, closure: 1);
            await InsertGraphAsync(s, nodes: 1, running: true);
            return await StoreRoots.ReadAsync(s, last, null);
        }, CancellationToken.None);
        var end = await ReadAsync(StoreRootsCursor.Start(Ms(T0)), null);

        var walked = pages.SelectMany(p => p.Live).ToHashSet(StringComparer.Ordinal);
        Assert.Empty(before.Live.Intersect(end.Live, StringComparer.Ordinal).Except(walked, StringComparer.Ordinal));
        Assert.Empty(end.Live.Except(walked, StringComparer.Ordinal).Except(after.Live, StringComparer.Ordinal));
        Assert.NotEmpty(after.Live);
        Assert.DoesNotContain(after.Live, walked.Contains);
    }

    [Fact]
    public async Task ReadAsync_LastCursorAskedAgainWithNothingNew_Empty()
    {
        await SeedAsync();
        var pages = await WalkAsync(StoreRootsCursor.Start(Ms(T0)), 3, (_, _) => Task.CompletedTask);

        var again = await ReadAsync(pages[^1].Next, 3);

        Assert.Empty(again.Live);
        Assert.Empty(again.Recent);
        Assert.False(again.More);
    }

    [Theory]
    [InlineData("1.0.0.0.0.0")]
    [InlineData("1.5.7.-3.9.11.L25peC9zdG9yZS94LmRydg")]
    public void TryParse_ItsOwnText_SameCursor(string text)
    {
        Assert.True(StoreRootsCursor.TryParse(text, out var cursor));
        Assert.Equal(text, cursor!.ToString());
    }

    [Theory]
    [InlineData("")]
    [InlineData("2.0.0.0.0.0")]
    [InlineData("1.0.0.0.0")]
    [InlineData("1.a.0.0.0.0")]
    [InlineData("1.0.0.0.0.0.!!")]
    public void TryParse_NotACursor_False(string text) => Assert.False(StoreRootsCursor.TryParse(text, out _));

    public async ValueTask DisposeAsync()
    {
        if (_db is not null)
            await _db.DisposeAsync();
        _dir.Dispose();
    }

    private sealed record Seeded(List<Guid> Queued, List<Guid> Running);

    /// <summary>
    /// 6 queued and 3 running builds (closures of 0–3 paths, one without an origin), 4 builds that succeeded in the
    /// window (two at the same millisecond) and one before it, a failed one, two running graphs and a finished one.
    /// </summary>
    private async Task<Seeded> SeedAsync()
    {
        _db = await LifecycleDatabase.OpenAsync(_dir.Combine("d.db"), CancellationToken.None);
        return await Db.RunAsync(async s =>
        {
            var queued = new List<Guid>();
            var running = new List<Guid>();
            for (var i = 0; i < 9; i++)
            {
                var id = await InsertBuildAsync(s, closure: i == 4 ? null : i % 4);
                if (i % 3 == 2)
                {
                    await BuildTable.ClaimAsync(s, id, "w1", T0, T0.AddMinutes(5), null);
                    running.Add(id);
                }
                else
                {
                    queued.Add(id);
                }

                if (i % 3 == 1)
                    await InsertGraphAsync(s, nodes: 3, running: i != 4);
            }

            for (var i = 0; i < 4; i++)
                await SucceedAsync(s, T0.AddSeconds(i == 2 ? 1 : i), [$"/nix/store/out-s{i}", $"/nix/store/out-s{i}-dev"]);
            await SucceedAsync(s, T0.AddSeconds(-1), ["/nix/store/out-old"]);
            var failed = await InsertBuildAsync(s, closure: 1);
            await BuildTable.FinishAsync(s, failed, BuildState.Failed, "BuildFailure", "no", 1, "w1", T0.AddSeconds(2));
            return new Seeded(queued, running);
        }, CancellationToken.None);
    }

    private async Task<Guid> InsertBuildAsync(DbSession s, int? closure)
    {
        var n = _next++;
        var id = Guid.NewGuid();
        await BuildTable.InsertAsync(s, new BuildRecord(id, $"/nix/store/{n:d32}-b{n}.drv", "Derive()", "/nix/store", "x86_64-linux", [], ["out"],
            BuildState.Queued, 1, false, null, null, 0, TimeSpan.Zero, TimeSpan.Zero, false, null, null, null, T0, null, null, null, false));
        if (closure is { } count)
            await BuildInputTable.InsertAsync(s, id, Origin, [.. Enumerable.Range(0, count).Select(i => new InputPath($"/nix/store/closure-of-{n}-{i}", "sha256:x", 1))]);
        return id;
    }

    private async Task SucceedAsync(DbSession s, DateTimeOffset at, string[] outputs)
    {
        var id = await InsertBuildAsync(s, closure: 0);
        await OutputTable.InsertAsync(s, id, outputs.Select((p, i) => new BuiltOutput(i == 0 ? "out" : "dev", p, "sha256:x", 1, [], [])));
        await BuildTable.FinishAsync(s, id, BuildState.Succeeded, null, null, 0, "w1", at);
    }

    private async Task InsertGraphAsync(DbSession s, int nodes, bool running)
    {
        var g = _next++;
        var id = Guid.NewGuid();
        await GraphTable.InsertAsync(s, new GraphRecord(id, ["/nix/store/t.drv"], false, 0, TimeSpan.Zero, TimeSpan.Zero, false, GraphState.Running, T0, null),
            Enumerable.Range(0, nodes).Select(i => new GraphNodeRecord(id, $"/nix/store/g{g}-n{i}.drv", [], ["out"],
                new Dictionary<string, string> { ["out"] = $"/nix/store/out-g{g}-n{i}" }, false, GraphNodeState.Waiting, null, null)));
        if (!running)
            await GraphTable.FinishAsync(s, id, GraphState.Succeeded, T0);
    }

    private Task<StoreRootsPage> ReadAsync(StoreRootsCursor from, int? limit) => Db.ReadAsync(s => StoreRoots.ReadAsync(s, from, limit), CancellationToken.None);

    /// <summary>Every page from <paramref name="from"/>, running <paramref name="between"/> in a write transaction after each page but the last.</summary>
    private async Task<List<StoreRootsPage>> WalkAsync(StoreRootsCursor from, int limit, Func<DbSession, StoreRootsPage, Task> between)
    {
        var pages = new List<StoreRootsPage>();
        while (true)
        {
            var page = await ReadAsync(from, limit);
            pages.Add(page);
            Assert.True(pages.Count < 1000, "the walk does not end");
            if (!page.More)
                return pages;
            await Db.RunAsync(s => between(s, page), CancellationToken.None);
            from = page.Next;
        }
    }

    private static long Ms(DateTimeOffset t) => t.ToUnixTimeMilliseconds();
}
