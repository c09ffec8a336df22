using System.Globalization;
using BuildFarm.Contracts.Builds;
using BuildFarm.Contracts.Workers;
using BuildFarm.Dispatcher.Api;
using BuildFarm.Dispatcher.Lifecycle;
using BuildFarm.Dispatcher.Metrics;
using BuildFarm.Dispatcher.Origin;
using BuildFarm.Dispatcher.Tests.Lifecycle;
using BuildFarm.Dispatcher.Ui;
using BuildFarm.Store.Archives;
using BuildFarm.Store.Derivations;
using BuildFarm.Store.Local;
using BuildFarm.Store.Paths;
using BuildFarm.Store.Quarantine;
using BuildFarm.Store.Signing;
using BuildFarm.Testing;

namespace BuildFarm.Dispatcher.Tests.Metrics;

/// <summary>The byte counters of /metrics over a real lifecycle DB, a real origin store and the real output importer.</summary>
public sealed class TransferMetricsTests : IAsyncLifetime, IDisposable
{
    private static readonly OriginEndpoint Endpoint = new("origin.example", 22, "buildfarm", "SHA256:" + new string('A', 43), "buildfarm");
    private readonly TempDirectory _dir = new("transfer-metrics");
    private readonly SigningKey _key = SigningKey.Generate("worker-1");
    private StoreLayout _origin = null!;
    private LocalStore _worker = null!;
    private OriginStore _originStore = null!;
    private LifecycleDatabase _db = null!;
    private BuildLifecycle _lifecycle = null!;

    public async Task InitializeAsync()
    {
        _origin = StoreLayout.Create("/nix/store", _dir.Combine("origin"));
        _worker = await LocalStore.OpenAsync(StoreLayout.Create("/nix/store", _dir.Combine("worker")));
        _originStore = new OriginStore(_origin, TimeProvider.System);
        _db = await LifecycleDatabase.OpenAsync(_dir.Combine("dispatcher.db"), CancellationToken.None);
        _lifecycle = new BuildLifecycle(_db, new RecordingPublisher(), new RecordingControl(), TimeProvider.System, LifecycleSettings.Default,
            new OutputImporter(_originStore, TrustedKeysFile.Fixed(new TrustedKeys([_key.PublicKey])), TimeProvider.System));
        await _lifecycle.OnStatusAsync(
            new WorkerStatusReported("w1", new WorkerCapabilities(["x86_64-linux"], [], [], 2, 1), [], 0, 1L << 30, "test", false, false, null, DateTimeOffset.UtcNow),
            CancellationToken.None);
    }

    [Fact]
    public async Task Import_AcceptedOutputs_OutputBytesCounterGrowsByTheirNarSize()
    {
        Assert.Equal(0, Sample(await RenderAsync(), "buildfarm_output_bytes_imported_total"));
        var first = await BuildAndReturnAsync("first", "contents of the first output");
        await _lifecycle.OnSucceededAsync(first, CancellationToken.None);
        var afterFirst = Sample(await RenderAsync(), "buildfarm_output_bytes_imported_total");

        var second = await BuildAndReturnAsync("second", new string('x', 5000));
        await _lifecycle.OnSucceededAsync(second, CancellationToken.None);
        // Redelivered: the import changes nothing, and nothing is counted twice.
        await _lifecycle.OnSucceededAsync(second, CancellationToken.None);
        var text = await RenderAsync();

        var origin = await _originStore.OpenAsync(CancellationToken.None);
        Assert.True(await origin.IsValidAsync(origin.ParsePath(second.Outputs[0].Path), CancellationToken.None), "the second output was imported");
        Assert.Equal(first.Outputs[0].NarSize, afterFirst);
        Assert.Equal(first.Outputs[0].NarSize + second.Outputs[0].NarSize, Sample(text, "buildfarm_output_bytes_imported_total"));
        Assert.True(second.Outputs[0].NarSize > 5000, "the NAR size, not the file size, is counted");
        Assert.Contains("# TYPE buildfarm_output_bytes_imported_total counter\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Succeeded_WithInputBytesFetched_CountedOncePerAttemptPerWorker_NullNotCounted()
    {
        var observer = new EventObserver(_db, TimeProvider.System);
        var timings = new PhaseTimings(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(3));
        var a = new BuildSucceeded(Guid.NewGuid(), 1, "w1", [], timings, DateTimeOffset.UtcNow, 123_456);
        var b = new BuildSucceeded(Guid.NewGuid(), 1, "w1", [], timings, DateTimeOffset.UtcNow, 1_000);
        var old = new BuildSucceeded(Guid.NewGuid(), 1, "old-worker", [], timings, DateTimeOffset.UtcNow);

        foreach (var e in new[] { a, a, b, old })
            await observer.SucceededAsync(e, (record, ct) => _db.RunAsync(record, ct), CancellationToken.None);
        var text = await RenderAsync();

        Assert.Equal(124_456, Sample(text, "buildfarm_input_bytes_fetched_total{worker=\"w1\"}"));
        Assert.DoesNotContain("buildfarm_input_bytes_fetched_total{worker=\"old-worker\"}", text, StringComparison.Ordinal);
        Assert.Contains("# TYPE buildfarm_input_bytes_fetched_total counter\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public void BuildSucceeded_FromAWorkerThatPredatesInputBytes_DeserializesWithNull_AndANewOneRoundTrips()
    {
        // MassTransit's own System.Text.Json options, as the dispatcher's consumers read events with them.
        var options = MassTransit.Serialization.SystemTextJsonMessageSerializer.Options;
        var current = new BuildSucceeded(Guid.NewGuid(), 2, "w1", [], new PhaseTimings(TimeSpan.FromSeconds(1), TimeSpan.Zero, TimeSpan.Zero), DateTimeOffset.UnixEpoch, 42);
        var json = System.Text.Json.JsonSerializer.Serialize(current, options);
        var node = System.Text.Json.Nodes.JsonNode.Parse(json)!.AsObject();
        Assert.True(node.Remove("inputBytesFetched"), json);

        var old = System.Text.Json.JsonSerializer.Deserialize<BuildSucceeded>(node.ToJsonString(), options)!;
        var roundTripped = System.Text.Json.JsonSerializer.Deserialize<BuildSucceeded>(json, options)!;

        Assert.Null(old.InputBytesFetched);
        Assert.Equal((current.BuildId, 2, "w1"), (old.BuildId, old.Attempt, old.WorkerName));
        Assert.Equal(42, roundTripped.InputBytesFetched);
    }

    private Task<string> RenderAsync()
    {
        var workers = new WorkerViews(_lifecycle, TimeProvider.System, new UiOptions());
        return MetricsEndpoint.RenderAsync(_db, workers, new ClassViews(_lifecycle, workers, TimeProvider.System), CancellationToken.None);
    }

    private static double Sample(string text, string series)
    {
        var line = Assert.Single(text.Split('\n'), l => l.StartsWith(series + " ", StringComparison.Ordinal));
        return double.Parse(line[(series.Length + 1)..], CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// Submits a build with the origin (as the submitter does when one is configured), claims it, then builds its
    /// output in the worker store, signs it and puts the archive into the origin's quarantine, as a worker's upload does.
    /// </summary>
    private async Task<BuildSucceeded> BuildAndReturnAsync(string name, string contents)
    {
        // The importer takes only outputs of the build's derivation: the record carries a real one.
        var drv = await new DerivationSpecCompiler(_worker.StoreDir, (_, _) => throw new InvalidOperationException("no input derivations"))
            .CompileAsync(new DerivationSpec { Name = name, System = "x86_64-linux", Builder = "/bin/sh" }, CancellationToken.None);
        var submitted = await _lifecycle.SubmitAsync(new SubmitRequest(
            drv.DrvPath.FullPath, drv.Aterm, "/nix/store", "x86_64-linux",
            [], ["out"], 0, false, TimeSpan.Zero, TimeSpan.Zero, Endpoint, []), CancellationToken.None);
        var build = submitted.BuildId!.Value;
        await _lifecycle.OnStartedAsync(new BuildStarted(build, 1, "w1", DateTimeOffset.UtcNow), CancellationToken.None);

        var path = drv.Derivation.Outputs["out"].Path!;
        using (await _worker.LockPathAsync(path, CancellationToken.None))
        {
            await File.WriteAllTextAsync(_worker.PhysicalPath(path), contents);
            await _worker.RegisterOutputAsync(path, [], null, CancellationToken.None);
        }

        var info = await _worker.GetPathInfoAsync(path, CancellationToken.None);
        await _worker.AddSignaturesAsync(path, [_key.Sign(info.Fingerprint)], CancellationToken.None);
        using var archive = new MemoryStream();
        await ArchiveWriter.ExportAsync(_worker, [path], archive, new ExportOptions(ArchiveFormat.BuildFarmSigned), CancellationToken.None);
        archive.Position = 0;
        await new OutputQuarantine(_origin).ReceiveAsync(build, 1, archive, 1 << 20, CancellationToken.None);
        return new BuildSucceeded(build, 1, "w1", [new BuiltOutput("out", path.FullPath, info.NarHash.ToString(), info.NarSize, [], [])],
            new PhaseTimings(TimeSpan.Zero, TimeSpan.Zero, TimeSpan.Zero), DateTimeOffset.UtcNow, 0);
    }

    public async Task DisposeAsync() => await _db.DisposeAsync();

    public void Dispose()
    {
        _originStore.Dispose();
        _dir.Dispose();
    }
}
