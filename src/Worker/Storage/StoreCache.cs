using BuildFarm.Contracts.Workers;
using BuildFarm.Store.Local;
using BuildFarm.Store.Paths;
using BuildFarm.Worker.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Serilog;

namespace BuildFarm.Worker.Storage;

/// <summary>
/// The worker's store as a cache (<c>Store:MaxSizeBytes</c>, <c>Store:MinFreeBytes</c>): least recently used paths are
/// evicted when a fetch would cross the cap or the free-space floor, and once at start-up. A path is never evicted
/// while a build that runs here pins it or a pinned path references it (the closure of every pin is kept).
/// <para>
/// Pins and collections are ordered by one gate: a pin is added only between collections, so a build that pinned its
/// paths and then found them valid keeps them until it unpins; a collection sees every pin added before it started
/// (a pin removed meanwhile only keeps a path one collection longer). Each eviction is <see cref="LocalStore.DeleteAsync"/>:
/// the row goes first (committed), then the files, so a crash in between leaves an invalid leftover that the next
/// open deletes, never a partial path that is valid.
/// </para>
/// </summary>
internal sealed class StoreCache(WorkerStore workerStore, IOptions<WorkerOptions> options, ILogger logger) : IHostedService, IDisposable
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Dictionary<string, int> _pins = new(StringComparer.Ordinal);
    private readonly ILogger _log = logger.ForContext<StoreCache>();
    private long _evictedPaths;
    private long _evictedBytes;
    private long _usedBytes;

    private long Cap => options.Value.Store.MaxSizeBytes;

    private long Floor => options.Value.Store.MinFreeBytes;

    /// <summary>Free bytes on the store's file system (replaceable by tests).</summary>
    internal Func<long> FreeBytes { get; set; } = () => new DriveInfo(workerStore.Layout.PhysicalStoreDir).AvailableFreeSpace;

    /// <summary>
    /// What the heartbeat reports: NAR bytes as of the last check, the cap, evictions since the worker started; null
    /// when the store is not a cache (no cap, no floor: nothing is checked, so there is nothing to report).
    /// </summary>
    public WorkerStoreUsage? Usage() => Cap == 0 && Floor == 0
        ? null
        : new(Interlocked.Read(ref _usedBytes), Cap, Interlocked.Read(ref _evictedPaths), Interlocked.Read(ref _evictedBytes));

    /// <summary>Keeps <paramref name="paths"/> (and their closure) until the returned handle is disposed.</summary>
    public async Task<IDisposable> PinAsync(IEnumerable<string> paths, CancellationToken cancellationToken)
    {
        var pinned = paths.Distinct(StringComparer.Ordinal).ToArray();
        await _gate.WaitAsync(cancellationToken);
        try
        {
            lock (_pins)
            {
                foreach (var p in pinned)
                    _pins[p] = _pins.GetValueOrDefault(p) + 1;
            }
        }
        finally
        {
            _gate.Release();
        }

        return new Pin(this, pinned);
    }

    /// <summary>
    /// Evicts least recently used, unpinned paths until <paramref name="incomingBytes"/> more fit under the cap and above
    /// the floor. Returns the bytes still missing (0 when they fit, or when neither limit is set).
    /// </summary>
    public async Task<long> EnsureSpaceAsync(long incomingBytes, string reason, CancellationToken cancellationToken)
    {
        if (Cap == 0 && Floor == 0)
            return 0;
        await _gate.WaitAsync(cancellationToken);
        try
        {
            var store = await workerStore.GetAsync(cancellationToken);
            var usage = await store.ListUsageAsync(cancellationToken);
            var used = usage.Sum(u => u.NarSize);
            Interlocked.Exchange(ref _usedBytes, used);
            var need = Need(used, incomingBytes);
            if (need <= 0)
                return 0;
            var freed = await EvictAsync(store, usage, need, reason, cancellationToken);
            Interlocked.Exchange(ref _usedBytes, used - freed);
            return Math.Max(0, need - freed);
        }
        finally
        {
            _gate.Release();
        }
    }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var missing = await EnsureSpaceAsync(0, "start-up", cancellationToken);
        if (missing > 0)
            _log.Warning("The worker's store is still {MissingBytes} bytes over its limits after evicting every unpinned path", missing);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public void Dispose() => _gate.Dispose();

    private long Need(long used, long incoming)
    {
        long need = 0;
        if (Cap > 0)
            need = used + incoming - Cap;
        if (Floor > 0)
            need = Math.Max(need, Floor - (FreeBytes() - incoming));
        return need;
    }

    private async Task<long> EvictAsync(LocalStore store, IReadOnlyList<PathUsage> usage, long need, string reason, CancellationToken cancellationToken)
    {
        var byPath = usage.ToDictionary(u => u.Path);
        var referrers = new Dictionary<StorePath, List<StorePath>>();
        foreach (var u in usage)
        {
            foreach (var r in u.References.Where(r => r != u.Path))
            {
                if (!referrers.TryGetValue(r, out var list))
                    referrers[r] = list = [];
                list.Add(u.Path);
            }
        }

        var kept = Closure(PinnedRoots(store, byPath), p => byPath.TryGetValue(p, out var u) ? u.References : []);
        var gone = new HashSet<StorePath>();
        long freed = 0;
        foreach (var victim in usage)
        {
            if (freed >= need)
                break;
            if (kept.Contains(victim.Path) || gone.Contains(victim.Path))
                continue;
            // A path goes with everything that references it (they cannot stay valid without it), referrers first.
            var set = Closure([victim.Path], p => referrers.GetValueOrDefault(p) ?? []);
            set.ExceptWith(gone);
            if (set.Overlaps(kept))
                continue;
            foreach (var path in ReferrersFirst(set, byPath))
            {
                try
                {
                    await store.DeleteAsync(path, cancellationToken);
                }
                catch (StoreException e)
                {
                    // A path registered since the listing references it: it stays, and so does the rest of its set.
                    _log.Debug("Not evicting {StorePath}: {Reason}", path.FullPath, e.Message);
                    break;
                }

                gone.Add(path);
                freed += byPath[path].NarSize;
                Interlocked.Increment(ref _evictedPaths);
                Interlocked.Add(ref _evictedBytes, byPath[path].NarSize);
                _log.Information(
                    "Evicted {StorePath} ({NarBytes} NAR bytes, last used {LastUsed:o}) from the worker's store ({Reason})",
                    path.FullPath, byPath[path].NarSize, byPath[path].LastUsed, reason);
            }
        }

        _log.Information(
            "Store collection ({Reason}): evicted {EvictedCount} paths, {FreedBytes} of {NeededBytes} bytes needed; {PinnedCount} paths kept for running builds",
            reason, gone.Count, freed, need, kept.Count);
        return freed;
    }

    private IEnumerable<StorePath> PinnedRoots(LocalStore store, Dictionary<StorePath, PathUsage> byPath)
    {
        string[] pinned;
        lock (_pins)
            pinned = [.. _pins.Keys];
        foreach (var text in pinned)
        {
            if (StorePath.TryParse(store.StoreDir, text, out var path, out _) && byPath.ContainsKey(path!))
                yield return path!;
        }
    }

    private static HashSet<StorePath> Closure(IEnumerable<StorePath> roots, Func<StorePath, IEnumerable<StorePath>> next)
    {
        var seen = new HashSet<StorePath>();
        var pending = new Stack<StorePath>(roots);
        while (pending.TryPop(out var p))
        {
            if (!seen.Add(p))
                continue;
            foreach (var n in next(p))
                pending.Push(n);
        }

        return seen;
    }

    /// <summary>Orders <paramref name="set"/> so that no path comes before a path of the set that references it.</summary>
    private static List<StorePath> ReferrersFirst(HashSet<StorePath> set, Dictionary<StorePath, PathUsage> byPath)
    {
        var waiting = set.ToDictionary(p => p, p => set.Count(r => r != p && byPath[r].References.Contains(p)));
        var order = new List<StorePath>();
        var ready = new Queue<StorePath>(waiting.Where(kv => kv.Value == 0).Select(kv => kv.Key).Order(StorePath.Ordinal));
        while (ready.TryDequeue(out var p))
        {
            order.Add(p);
            foreach (var r in byPath[p].References.Where(r => r != p && waiting.ContainsKey(r)))
            {
                if (--waiting[r] == 0)
                    ready.Enqueue(r);
            }
        }

        return order;
    }

    private void Unpin(string[] paths)
    {
        lock (_pins)
        {
            foreach (var p in paths)
            {
                if (--_pins[p] == 0)
                    _pins.Remove(p);
            }
        }
    }

    private sealed class Pin(StoreCache cache, string[] paths) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
                cache.Unpin(paths);
        }
    }
}
