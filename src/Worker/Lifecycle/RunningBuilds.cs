using System.Collections.Concurrent;
using BuildFarm.Contracts.Workers;

namespace BuildFarm.Worker.Lifecycle;

/// <summary>A build this worker has claimed (BuildStarted published, request acked) and is running.</summary>
internal sealed class RunningBuildHandle(Guid buildId, int attempt, string drvPath) : IDisposable
{
    private readonly CancellationTokenSource _cancel = new();

    public Guid BuildId { get; } = buildId;

    public int Attempt { get; } = attempt;

    public string DrvPath { get; } = drvPath;

    public string? CancelReason { get; private set; }

    public CancellationToken Cancelled => _cancel.Token;

    public Task Completion { get; set; } = Task.CompletedTask;

    public void Cancel(string reason)
    {
        CancelReason ??= reason;
        try
        {
            _cancel.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
    }

    public void Dispose() => _cancel.Dispose();
}

/// <summary>The builds running here; listed in every heartbeat, which renews their leases.</summary>
internal sealed class RunningBuilds
{
    private readonly ConcurrentDictionary<Guid, RunningBuildHandle> _builds = new();

    public event Action? Emptied;

    public int Count => _builds.Count;

    public IReadOnlyList<RunningBuild> Snapshot() => [.. _builds.Values.Select(b => new RunningBuild(b.BuildId, b.Attempt))];

    public IReadOnlyList<RunningBuildHandle> Handles() => [.. _builds.Values];

    public bool TryAdd(RunningBuildHandle handle) => _builds.TryAdd(handle.BuildId, handle);

    public bool TryGet(Guid buildId, out RunningBuildHandle? handle) => _builds.TryGetValue(buildId, out handle);

    public void Remove(RunningBuildHandle handle)
    {
        if (_builds.TryRemove(KeyValuePair.Create(handle.BuildId, handle)) && _builds.IsEmpty)
            Emptied?.Invoke();
    }
}
