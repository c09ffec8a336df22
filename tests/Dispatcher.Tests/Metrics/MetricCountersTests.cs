using System.Globalization;
using BuildFarm.Contracts.Builds;
using BuildFarm.Contracts.Workers;
using BuildFarm.Dispatcher.Api;
using BuildFarm.Dispatcher.Lifecycle;
using BuildFarm.Dispatcher.Metrics;
using BuildFarm.Dispatcher.Tests.Lifecycle;
using BuildFarm.Dispatcher.Ui;
using BuildFarm.Testing;
using Microsoft.Data.Sqlite;

namespace BuildFarm.Dispatcher.Tests.Metrics;

/// <summary>The counters behind /metrics, kept as builds change state, across a restart and from an older database.</summary>
public sealed class MetricCountersTests : IDisposable
{
    private readonly TempDirectory _dir = new("metric-counters");

    private string DbFile => _dir.Combine("dispatcher.db");

    [Fact]
    public async Task Counters_FollowEveryStateChange_AndSurviveARestart()
    {
        string beforeRestart;
        await using (var db = await LifecycleDatabase.OpenAsync(DbFile, CancellationToken.None))
        {
            var lifecycle = Lifecycle(db);
            await HeartbeatAsync(lifecycle);
            var ok = await SubmitAsync(lifecycle, "a");
            var bad = await SubmitAsync(lifecycle, "b");
            var cancelled = await SubmitAsync(lifecycle, "c");
            await SubmitAsync(lifecycle, "d");
            var text = await RenderAsync(db, lifecycle);
            Assert.Equal(4, Sample(text, "buildfarm_builds{state=\"queued\"}"));

            await lifecycle.OnStartedAsync(new BuildStarted(ok, 1, "w1", DateTimeOffset.UtcNow), CancellationToken.None);
            await lifecycle.OnStartedAsync(new BuildStarted(bad, 1, "w1", DateTimeOffset.UtcNow), CancellationToken.None);
            text = await RenderAsync(db, lifecycle);
            Assert.Equal(2, Sample(text, "buildfarm_builds{state=\"running\"}"));
            Assert.Equal(2, Sample(text, "buildfarm_attempts{outcome=\"running\"}"));
            Assert.Equal(2, Sample(text, "buildfarm_phase_seconds_count{phase=\"queued\"}"));

            var observer = new EventObserver(db, TimeProvider.System);
            var succeeded = new BuildSucceeded(ok, 1, "w1", [new BuiltOutput("out", "/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-a", "sha256:x", 8, [], ["w:sig"])],
                new PhaseTimings(TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(0.3)), DateTimeOffset.UtcNow, 1000);
            await observer.SucceededAsync(succeeded, (record, ct) => lifecycle.OnSucceededAsync(succeeded, ct, record: record), CancellationToken.None);
            // Redelivered: nothing counted twice.
            await observer.SucceededAsync(succeeded, (record, ct) => lifecycle.OnSucceededAsync(succeeded, ct, record: record), CancellationToken.None);
            await lifecycle.OnFailedAsync(new BuildFailed(bad, 1, "w1", BuildFailureKind.BuildFailure, 1, "boom", "", DateTimeOffset.UtcNow), CancellationToken.None);
            await lifecycle.CancelAsync(cancelled, "test", CancellationToken.None);

            beforeRestart = await RenderAsync(db, lifecycle);
            Assert.Equal(1, Sample(beforeRestart, "buildfarm_builds{state=\"queued\"}"));
            Assert.Equal(0, Sample(beforeRestart, "buildfarm_builds{state=\"running\"}"));
            Assert.Equal(1, Sample(beforeRestart, "buildfarm_builds{state=\"succeeded\"}"));
            Assert.Equal(1, Sample(beforeRestart, "buildfarm_builds{state=\"failed\"}"));
            Assert.Equal(1, Sample(beforeRestart, "buildfarm_builds{state=\"cancelled\"}"));
            Assert.Equal(1, Sample(beforeRestart, "buildfarm_builds_finished_total{outcome=\"succeeded\"}"));
            Assert.Equal(1, Sample(beforeRestart, "buildfarm_builds_finished_total{outcome=\"BuildFailure\"}"));
            Assert.Equal(1, Sample(beforeRestart, "buildfarm_builds_finished_total{outcome=\"cancelled\"}"));
            Assert.Equal(0, Sample(beforeRestart, "buildfarm_attempts{outcome=\"running\"}"));
            Assert.Equal(1, Sample(beforeRestart, "buildfarm_attempts{outcome=\"succeeded\"}"));
            Assert.Equal(1, Sample(beforeRestart, "buildfarm_phase_seconds_count{phase=\"build\"}"));
            Assert.Equal(0, Sample(beforeRestart, "buildfarm_phase_seconds_bucket{phase=\"build\",le=\"15\"}"));
            Assert.Equal(1, Sample(beforeRestart, "buildfarm_phase_seconds_bucket{phase=\"build\",le=\"60\"}"));
            Assert.Equal(30, Sample(beforeRestart, "buildfarm_phase_seconds_sum{phase=\"build\"}"));
            Assert.Equal(1000, Sample(beforeRestart, "buildfarm_input_bytes_fetched_total{worker=\"w1\"}"));
        }

        await using (var db = await LifecycleDatabase.OpenAsync(DbFile, CancellationToken.None))
        {
            var lifecycle = Lifecycle(db);
            await HeartbeatAsync(lifecycle);
            var afterRestart = await RenderAsync(db, lifecycle);
            Assert.Equal(Counters(beforeRestart), Counters(afterRestart));

            await SubmitAsync(lifecycle, "f");
            Assert.Equal(2, Sample(await RenderAsync(db, lifecycle), "buildfarm_builds{state=\"queued\"}"));
        }
    }

    [Fact]
    public async Task Migration_FillsTheCountersOnceFromTheRowsAlreadyThere()
    {
        string kept;
        await using (var db = await LifecycleDatabase.OpenAsync(DbFile, CancellationToken.None))
        {
            var lifecycle = Lifecycle(db);
            await HeartbeatAsync(lifecycle);
            var a = await SubmitAsync(lifecycle, "a");
            var b = await SubmitAsync(lifecycle, "b");
            await SubmitAsync(lifecycle, "c");
            await lifecycle.OnStartedAsync(new BuildStarted(a, 1, "w1", DateTimeOffset.UtcNow), CancellationToken.None);
            await lifecycle.OnStartedAsync(new BuildStarted(b, 1, "w1", DateTimeOffset.UtcNow), CancellationToken.None);
            await lifecycle.OnFailedAsync(new BuildFailed(a, 1, "w1", BuildFailureKind.Timeout, null, "slow", "", DateTimeOffset.UtcNow), CancellationToken.None);
            await new EventObserver(db, TimeProvider.System).SucceededAsync(
                new BuildSucceeded(b, 1, "w1", [], new PhaseTimings(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(7), TimeSpan.Zero), DateTimeOffset.UtcNow, 77),
                (record, ct) => db.RunAsync(record, ct), CancellationToken.None);
            kept = await RenderAsync(db, lifecycle);
        }

        // The database as a dispatcher before schema version 5 left it: same rows, no counters (nor version 6's columns or version 7's table).
        // (builds_finished only if version 8 did not replace it by builds_finished_stats; version 9's per-minute counts and version 11's node numbers dropped too.)
        await using (var connection = new SqliteConnection($"Data Source={DbFile};Pooling=False"))
        {
            await connection.OpenAsync();
            await using var drop = connection.CreateCommand();
            drop.CommandText = """
                SELECT 'DROP TRIGGER ' || name || ';' FROM sqlite_master WHERE type = 'trigger' AND (name LIKE 'metric_%' OR name LIKE 'build_minutes_%')
                """;
            var drops = new List<string>();
            await using (var reader = await drop.ExecuteReaderAsync())
            {
                while (await reader.ReadAsync())
                    drops.Add(reader.GetString(0));
            }

            drop.CommandText = string.Concat(drops) + """
                DROP TABLE metric_counters; DROP TABLE metric_buckets; DROP TABLE worker_keys; DROP TABLE build_minutes;
                DROP INDEX graph_nodes_changed; ALTER TABLE graph_nodes DROP COLUMN changed;
                DROP INDEX IF EXISTS builds_finished; DROP INDEX graphs_finished; ALTER TABLE builds DROP COLUMN log_cut_bytes; ALTER TABLE builds DROP COLUMN log_note_seq;
                PRAGMA user_version = 4;
                """;
            await drop.ExecuteNonQueryAsync();
        }

        await using (var db = await LifecycleDatabase.OpenAsync(DbFile, CancellationToken.None))
        {
            var lifecycle = Lifecycle(db);
            await HeartbeatAsync(lifecycle);
            var migrated = await RenderAsync(db, lifecycle);
            Assert.Equal(Counters(kept), Counters(migrated));
            Assert.Equal(1, Sample(migrated, "buildfarm_builds_finished_total{outcome=\"Timeout\"}"));
            Assert.Equal(1, Sample(migrated, "buildfarm_phase_seconds_bucket{phase=\"build\",le=\"15\"}"));
        }
    }

    [Fact]
    public async Task WorkerStores_FromTheLastHeartbeat_RenderedPerWorker_AWorkerWithoutACapAbsent()
    {
        await using var db = await LifecycleDatabase.OpenAsync(DbFile, CancellationToken.None);
        var lifecycle = Lifecycle(db);
        var stores = new WorkerStoreReports();
        var observer = new EventObserver(db, TimeProvider.System, stores);
        var caps = new WorkerCapabilities(["x86_64-linux"], [], [], 1, 1);
        foreach (var e in new[]
        {
            new WorkerStatusReported("w1", caps, [], 0, 1L << 30, "test", false, false, null, DateTimeOffset.UtcNow, null, new WorkerStoreUsage(100, 1000, 1, 10)),
            new WorkerStatusReported("w1", caps, [], 0, 1L << 30, "test", false, false, null, DateTimeOffset.UtcNow, null, new WorkerStoreUsage(900, 1000, 5, 700)),
            new WorkerStatusReported("w2", caps, [], 0, 1L << 30, "test", false, false, null, DateTimeOffset.UtcNow),
        })
        {
            await observer.HeartbeatAsync(e, ct => lifecycle.OnStatusAsync(e, ct), CancellationToken.None);
        }

        var workers = new WorkerViews(lifecycle, TimeProvider.System, new UiOptions());
        var text = await MetricsEndpoint.RenderAsync(db, workers, new ClassViews(lifecycle, workers, TimeProvider.System), CancellationToken.None, stores);

        Assert.Equal(900, Sample(text, "buildfarm_worker_store_bytes{worker=\"w1\"}"));
        Assert.Equal(1000, Sample(text, "buildfarm_worker_store_max_bytes{worker=\"w1\"}"));
        Assert.Equal(5, Sample(text, "buildfarm_worker_store_evicted_paths_total{worker=\"w1\"}"));
        Assert.Equal(700, Sample(text, "buildfarm_worker_store_evicted_bytes_total{worker=\"w1\"}"));
        Assert.DoesNotContain("buildfarm_worker_store_bytes{worker=\"w2\"}", text, StringComparison.Ordinal);
        Assert.Contains("# TYPE buildfarm_worker_store_evicted_paths_total counter", text, StringComparison.Ordinal);
    }

    public void Dispose() => _dir.Dispose();

    private static BuildLifecycle Lifecycle(LifecycleDatabase db) =>
        new(db, new RecordingPublisher(), new RecordingControl(), TimeProvider.System, LifecycleSettings.Default);

    private static Task HeartbeatAsync(BuildLifecycle lifecycle) => lifecycle.OnStatusAsync(
        new WorkerStatusReported("w1", new WorkerCapabilities(["x86_64-linux"], [], [], 4, 1), [], 0, 1L << 30, "test", false, false, null, DateTimeOffset.UtcNow),
        CancellationToken.None);

    private static async Task<Guid> SubmitAsync(BuildLifecycle lifecycle, string name)
    {
        var result = await lifecycle.SubmitAsync(
            LifecycleHarness.Request() with { DrvPath = $"/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa{name}-{name}.drv" }, CancellationToken.None);
        return result.BuildId!.Value;
    }

    private static Task<string> RenderAsync(LifecycleDatabase db, BuildLifecycle lifecycle)
    {
        var workers = new WorkerViews(lifecycle, TimeProvider.System, new UiOptions());
        return MetricsEndpoint.RenderAsync(db, workers, new ClassViews(lifecycle, workers, TimeProvider.System), CancellationToken.None);
    }

    /// <summary>The counter and histogram lines (gauges of live workers aside).</summary>
    private static string[] Counters(string text) =>
        [.. text.Split('\n').Where(l => l.StartsWith("buildfarm_builds", StringComparison.Ordinal) || l.StartsWith("buildfarm_attempts", StringComparison.Ordinal)
            || l.StartsWith("buildfarm_phase_seconds", StringComparison.Ordinal) || l.Contains("_bytes_", StringComparison.Ordinal))];

    private static double Sample(string text, string series)
    {
        var line = Assert.Single(text.Split('\n'), l => l.StartsWith(series + " ", StringComparison.Ordinal));
        return double.Parse(line[(series.Length + 1)..], CultureInfo.InvariantCulture);
    }
}
