using BuildFarm.Store.Local;
using BuildFarm.Store.Paths;
using BuildFarm.Testing;
using BuildFarm.Worker.Configuration;
using BuildFarm.Worker.Storage;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace BuildFarm.Worker.Tests.Storage;

/// <summary>The worker's store as a cache, over a real store in a temp dir and a fake clock (last use is kept in seconds).</summary>
public sealed class StoreCacheTests : IDisposable
{
    private const long Cap = 1L << 20;
    private readonly TempDirectory _dir = new("store-cache");
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));

    [Fact]
    public async Task EnsureSpace_CapFilledAndBuildsKeepComing_StaysUnderTheCapEvictingLeastRecentlyUsed()
    {
        var (workerStore, cache) = Create(Cap);
        using var _ = workerStore;
        using var __ = cache;
        var store = await workerStore.GetAsync(CancellationToken.None);
        var tool = await AddAsync(store, "tool", 100_000);
        var outputs = new List<StorePath>();
        for (var i = 0; i < 12; i++)
        {
            // One "build": pins its input (the tool), makes room for a new 200 kB input, imports it, uses both.
            using var pin = await cache.PinAsync([tool.FullPath], CancellationToken.None);
            Assert.Equal(0, await cache.EnsureSpaceAsync(200_000, $"build {i}", CancellationToken.None));
            var input = await AddAsync(store, $"input-{i}", 200_000);
            await store.TouchAsync([tool, input], CancellationToken.None);
            outputs.Add(input);
            var used = (await store.ListUsageAsync(CancellationToken.None)).Sum(u => u.NarSize);
            Assert.True(used <= Cap, $"after build {i} the store holds {used} NAR bytes, over the cap of {Cap}");
            _time.Advance(TimeSpan.FromMinutes(1));
        }

        Assert.True(await store.IsValidAsync(tool, CancellationToken.None), "the pinned tool was evicted");
        Assert.True(await store.IsValidAsync(outputs[^1], CancellationToken.None), "the newest input was evicted");
        Assert.False(await store.IsValidAsync(outputs[0], CancellationToken.None), "the oldest input is still there");
        Assert.False(Directory.Exists(store.PhysicalPath(outputs[0])) || File.Exists(store.PhysicalPath(outputs[0])), "the evicted path's files are still there");
        var usage = cache.Usage()!;
        Assert.True(usage.UsedBytes is > 0 and <= Cap, $"the heartbeat reports {usage.UsedBytes} bytes used");
        Assert.True(usage.EvictedPaths >= 8, $"only {usage.EvictedPaths} evictions counted");
        Assert.Equal(Cap, usage.MaxBytes);
    }

    [Fact]
    public async Task EnsureSpace_RecentlyTouchedPath_OutlivesAnOlderOne()
    {
        var (workerStore, cache) = Create(Cap);
        using var _ = workerStore;
        using var __ = cache;
        var store = await workerStore.GetAsync(CancellationToken.None);
        var old = await AddAsync(store, "old", 300_000);
        _time.Advance(TimeSpan.FromMinutes(1));
        var newer = await AddAsync(store, "newer", 300_000);
        _time.Advance(TimeSpan.FromMinutes(1));
        await store.TouchAsync([old], CancellationToken.None);

        Assert.Equal(0, await cache.EnsureSpaceAsync(600_000, "test", CancellationToken.None));

        Assert.True(await store.IsValidAsync(old, CancellationToken.None), "the path used a minute ago was evicted");
        Assert.False(await store.IsValidAsync(newer, CancellationToken.None), "the least recently used path stayed");
    }

    [Fact]
    public async Task EnsureSpace_PinnedInputAndItsClosure_NeverEvictedEvenWhenShort()
    {
        var (workerStore, cache) = Create(Cap);
        using var _ = workerStore;
        using var __ = cache;
        var store = await workerStore.GetAsync(CancellationToken.None);
        var library = await AddAsync(store, "library", 300_000);
        var input = await store.AddTextAsync("input", new byte[300_000], [library], CancellationToken.None);
        _time.Advance(TimeSpan.FromMinutes(1));
        var loose = await AddAsync(store, "loose", 300_000);
        // A referrer of an unpinned path goes with it: it cannot stay valid without it.
        var user = await store.AddTextAsync("user-of-loose", new byte[10], [loose], CancellationToken.None);
        using var pin = await cache.PinAsync([input.FullPath], CancellationToken.None);

        var missing = await cache.EnsureSpaceAsync(Cap, "test", CancellationToken.None);

        Assert.True(missing > 0, "a request that cannot fit beside the pinned closure must be reported short");
        Assert.True(await store.IsValidAsync(input, CancellationToken.None), "the pinned input was evicted");
        Assert.True(await store.IsValidAsync(library, CancellationToken.None), "the pinned input's reference was evicted");
        Assert.True(File.Exists(store.PhysicalPath(library)), "the pinned input's reference lost its files");
        Assert.False(await store.IsValidAsync(loose, CancellationToken.None));
        Assert.False(await store.IsValidAsync(user, CancellationToken.None));

        pin.Dispose();
        Assert.Equal(0, await cache.EnsureSpaceAsync(Cap / 2, "after the build", CancellationToken.None));
        Assert.False(await store.IsValidAsync(input, CancellationToken.None), "once unpinned, the input is evictable");
    }

    [Fact]
    public async Task EnsureSpace_NoCapNoFloor_EvictsNothing()
    {
        var (workerStore, cache) = Create(0);
        using var _ = workerStore;
        using var __ = cache;
        var store = await workerStore.GetAsync(CancellationToken.None);
        var path = await AddAsync(store, "kept", 300_000);

        Assert.Equal(0, await cache.EnsureSpaceAsync(long.MaxValue / 2, "test", CancellationToken.None));
        Assert.True(await store.IsValidAsync(path, CancellationToken.None));
        Assert.Null(cache.Usage());
    }

    [Fact]
    public async Task EnsureSpace_BelowTheFreeSpaceFloor_Evicts()
    {
        var (workerStore, cache) = Create(0, minFree: 1_000_000);
        using var _ = workerStore;
        using var __ = cache;
        var store = await workerStore.GetAsync(CancellationToken.None);
        var path = await AddAsync(store, "evicted", 300_000);
        cache.FreeBytes = () => 900_000;

        Assert.Equal(0, await cache.EnsureSpaceAsync(0, "test", CancellationToken.None));
        Assert.False(await store.IsValidAsync(path, CancellationToken.None), "100 kB under the floor, the only path must go");
    }

    public void Dispose() => _dir.Dispose();

    private (WorkerStore Store, StoreCache Cache) Create(long cap, long minFree = 0)
    {
        var options = Options.Create(new WorkerOptions
        {
            Store = new StoreSection { StoreDir = "/nix/store", Root = _dir.Combine("root"), MaxSizeBytes = cap, MinFreeBytes = minFree },
        });
        var store = new WorkerStore(options, _time);
        return (store, new StoreCache(store, options, Serilog.Log.Logger));
    }

    private static Task<StorePath> AddAsync(LocalStore store, string name, int bytes) =>
        store.AddTextAsync(name, System.Text.Encoding.ASCII.GetBytes(name).Concat(new byte[bytes]).ToArray(), [], CancellationToken.None);
}
