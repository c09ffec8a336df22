using System.Collections.Concurrent;
using System.Text;
using BuildFarm.Contracts.Workers;

namespace BuildFarm.Dispatcher.Metrics;

/// <summary>
/// Each worker's store usage and evictions as its last heartbeat reported them. Kept in memory only: the worker's own
/// counters restart with the worker, and the next heartbeat (seconds away) refills this after a dispatcher restart.
/// </summary>
internal sealed class WorkerStoreReports
{
    private readonly ConcurrentDictionary<string, WorkerStoreUsage> _latest = new(StringComparer.Ordinal);

    public void Record(WorkerStatusReported e)
    {
        if (e.Store is { } store)
            _latest[e.WorkerName] = store;
    }

    public void Render(StringBuilder sb)
    {
        var rows = _latest.OrderBy(kv => kv.Key, StringComparer.Ordinal).ToArray();
        MetricsEndpoint.Family(sb, "buildfarm_worker_store_bytes", "NAR bytes of valid paths in a worker's store (as of its last check).");
        foreach (var (worker, u) in rows)
            MetricsEndpoint.Sample(sb, "buildfarm_worker_store_bytes", [("worker", worker)], u.UsedBytes);
        MetricsEndpoint.Family(sb, "buildfarm_worker_store_max_bytes", "A worker's Store:MaxSizeBytes (0 = no cap).");
        foreach (var (worker, u) in rows)
            MetricsEndpoint.Sample(sb, "buildfarm_worker_store_max_bytes", [("worker", worker)], u.MaxBytes);
        MetricsEndpoint.Family(sb, "buildfarm_worker_store_evicted_paths_total", "Paths a worker evicted from its store since it started.", "counter");
        foreach (var (worker, u) in rows)
            MetricsEndpoint.Sample(sb, "buildfarm_worker_store_evicted_paths_total", [("worker", worker)], u.EvictedPaths);
        MetricsEndpoint.Family(sb, "buildfarm_worker_store_evicted_bytes_total", "NAR bytes a worker evicted from its store since it started.", "counter");
        foreach (var (worker, u) in rows)
            MetricsEndpoint.Sample(sb, "buildfarm_worker_store_evicted_bytes_total", [("worker", worker)], u.EvictedBytes);
    }
}
