using System.Collections.Concurrent;
using BuildFarm.Contracts.Builds;
using BuildFarm.Contracts.Workers;
using BuildFarm.Dispatcher.Lifecycle;
using BuildFarm.Testing;
using Microsoft.Extensions.Time.Testing;

namespace BuildFarm.Dispatcher.Tests.Lifecycle;

/// <summary>A lifecycle over a real SQLite file, a fake clock and recording publishers.</summary>
internal sealed class LifecycleHarness : IAsyncDisposable
{
    private readonly TempDirectory _dir;

    private LifecycleHarness(TempDirectory dir, LifecycleDatabase db, LifecycleSettings settings, IOutputImporter? importer, Store.Signing.TrustedKeysFile? workerKeys)
    {
        _dir = dir;
        Db = db;
        Lifecycle = new BuildLifecycle(db, Publisher, Control, Time, settings, importer, workerKeys);
    }

    public FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));

    public RecordingPublisher Publisher { get; } = new();

    public RecordingControl Control { get; } = new();

    public LifecycleDatabase Db { get; }

    public BuildLifecycle Lifecycle { get; }

    /// <param name="settings">Lease, attempts and log limits.</param>
    /// <param name="importer">Imports returned outputs (a dispatcher with an origin).</param>
    /// <param name="workerKeys">Trusted worker keys, to check results' output signatures (as a dispatcher without an origin does).</param>
    public static async Task<LifecycleHarness> CreateAsync(LifecycleSettings? settings = null, IOutputImporter? importer = null, Store.Signing.TrustedKeysFile? workerKeys = null)
    {
        var dir = new TempDirectory("lifecycle");
        var db = await LifecycleDatabase.OpenAsync(dir.Combine("dispatcher.db"), CancellationToken.None);
        return new LifecycleHarness(dir, db, settings ?? LifecycleSettings.Default, importer, workerKeys);
    }

    public static WorkerCapabilities Caps(string system, string[]? features = null, string[]? mandatory = null) =>
        new([system], features ?? [], mandatory ?? [], 2, 1.0);

    public Task HeartbeatAsync(string worker, WorkerCapabilities caps, params RunningBuild[] running) =>
        Lifecycle.OnStatusAsync(new WorkerStatusReported(worker, caps, running, 0.1, 1 << 30, "test", false, false, null, Time.GetUtcNow()), CancellationToken.None);

    public async Task<Guid> SubmitAsync(string system = "x86_64-linux", string[]? features = null, bool wait = false)
    {
        var result = await Lifecycle.SubmitAsync(Request(system, features, wait), CancellationToken.None);
        Assert.True(result.BuildId.HasValue, result.RefusedBecause);
        return result.BuildId!.Value;
    }

    /// <summary>A request for a derivation of its own (a fresh path each call): requests for the same path in flight
    /// would join one build (work done once).</summary>
    public static SubmitRequest Request(string system = "x86_64-linux", string[]? features = null, bool wait = false) =>
        new($"/nix/store/{UniqueHash()}-hello.drv", "Derive([],[],[],\"x\",\"b\",[],[])", "/nix/store", system,
            features ?? [], ["out"], 0, wait, TimeSpan.Zero, TimeSpan.Zero);

    private static string UniqueHash() =>
        string.Concat(Enumerable.Range(0, 32).Select(_ => "0123456789abcdfghijklmnpqrsvwxyz"[Random.Shared.Next(32)]));

    public Task<BuildRecord?> GetAsync(Guid id) => Db.RunAsync(s => BuildTable.GetAsync(s, id), CancellationToken.None);

    public Task<List<AttemptRecord>> AttemptsAsync(Guid id) => Db.RunAsync(s => AttemptTable.ListAsync(s, id), CancellationToken.None);

    public Task StartAsync(Guid id, int attempt, string worker) =>
        Lifecycle.OnStartedAsync(new BuildStarted(id, attempt, worker, Time.GetUtcNow()), CancellationToken.None);

    public Task SucceedAsync(Guid id, int attempt, string worker) => Lifecycle.OnSucceededAsync(
        new BuildSucceeded(id, attempt, worker, [new BuiltOutput("out", "/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-hello", "sha256:x", 8, [], ["w:sig"])],
            new PhaseTimings(TimeSpan.Zero, TimeSpan.Zero, TimeSpan.Zero), Time.GetUtcNow()),
        CancellationToken.None);

    public Task FailAsync(Guid id, int attempt, string worker, BuildFailureKind kind, string reason = "boom") => Lifecycle.OnFailedAsync(
        new BuildFailed(id, attempt, worker, kind, kind == BuildFailureKind.BuildFailure ? 1 : null, reason, "", Time.GetUtcNow()), CancellationToken.None);

    public async ValueTask DisposeAsync()
    {
        await Db.DisposeAsync();
        _dir.Dispose();
    }
}

internal sealed class RecordingPublisher : IBuildRequestPublisher
{
    public ConcurrentQueue<BuildDerivation> Published { get; } = new();

    /// <summary>The contract version of each publish, keyed by build and attempt.</summary>
    public ConcurrentDictionary<(Guid BuildId, int Attempt), int> Versions { get; } = new();

    /// <summary>While set, publishing throws as if the broker were unreachable.</summary>
    public bool Failing { get; set; }

    public Task PublishAsync(BuildDerivation request, int contractVersion, CancellationToken cancellationToken)
    {
        if (Failing)
            throw new IOException("broker unreachable (test)");
        Published.Enqueue(request);
        Versions[(request.BuildId, request.Attempt)] = contractVersion;
        return Task.CompletedTask;
    }
}

internal sealed class RecordingControl : IControlPublisher
{
    public ConcurrentQueue<CancelBuild> Cancels { get; } = new();

    /// <summary>While set, sending throws as if the broker were unreachable.</summary>
    public bool Failing { get; set; }

    public Task CancelBuildAsync(CancelBuild command, CancellationToken cancellationToken)
    {
        if (Failing)
            throw new IOException("broker unreachable (test)");
        Cancels.Enqueue(command);
        return Task.CompletedTask;
    }
}
