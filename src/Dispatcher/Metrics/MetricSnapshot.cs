using BuildFarm.Dispatcher.Lifecycle;

namespace BuildFarm.Dispatcher.Metrics;

/// <summary>The counter rows of one scrape, read in one short transaction.</summary>
internal sealed class MetricSnapshot(List<(string Name, string Label, double Value)> counters, List<(string Phase, double Le, long Count)> buckets)
{
    public static Task<MetricSnapshot> ReadAsync(LifecycleDatabase db, CancellationToken ct) =>
        db.RunAsync(async s => new MetricSnapshot(await MetricCounterTable.ListAsync(s), await MetricCounterTable.BucketsAsync(s)), ct);

    /// <summary>label → value of one counter family.</summary>
    public Dictionary<string, double> Labels(string name) =>
        counters.Where(c => c.Name == name).ToDictionary(c => c.Label, c => c.Value, StringComparer.Ordinal);

    public long Bucket(string phase, double le) => buckets.Where(b => b.Phase == phase && b.Le == le).Sum(b => b.Count);
}
