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
    private int _claiming;

    /// <summary>Raised when the last build ends and no claim is being made.</summary>
    public event Action? Emptied;

    public int Count => _builds.Count;

    /// <summary>No build running and none being claimed: what a drain waits for before the worker stops.</summary>
    public bool IsIdle => _builds.IsEmpty && Volatile.Read(ref _claiming) == 0;

    /// <summary>
    /// Marks a claim in progress (a slot taken, BuildStarted not yet confirmed), until disposed. A drain that begins
    /// meanwhile waits for it: the request is then built here, as a running build is, not claimed and aborted.
    /// </summary>
    public IDisposable Claiming()
    {
        Interlocked.Increment(ref _claiming);
        return new ClaimScope(this);
    }

    public IReadOnlyList<RunningBuild> Snapshot() => [.. _builds.Values.Select(b => new RunningBuild(b.BuildId, b.Attempt))];

    public IReadOnlyList<RunningBuildHandle> Handles() => [.. _builds.Values];

    public bool TryAdd(RunningBuildHandle handle) => _builds.TryAdd(handle.BuildId, handle);

    public bool TryGet(Guid buildId, out RunningBuildHandle? handle) => _builds.TryGetValue(buildId, out handle);

    public void Remove(RunningBuildHandle handle)
    {
        if (_builds.TryRemove(KeyValuePair.Create(handle.BuildId, handle)) && IsIdle)
            Emptied?.Invoke();
    }

    private void EndClaim()
    {
        if (Interlocked.Decrement(ref _claiming) == 0 && _builds.IsEmpty)
            Emptied?.Invoke();
    }

    private sealed class ClaimScope(RunningBuilds owner) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
                owner.EndClaim();
        }
    }
}
