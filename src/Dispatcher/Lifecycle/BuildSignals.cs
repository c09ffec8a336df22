using System.Collections.Concurrent;

namespace BuildFarm.Dispatcher.Lifecycle;

/// <summary>
/// Wakes whoever follows a build (the hook's stream) when a transaction that appended to its log or ended it has
/// committed, so followers read the database once per change instead of polling it. A wake-up is a hint only: a
/// follower takes <see cref="Next"/> before it reads, so a change that commits between its read and its wait still
/// wakes it, and it also re-reads after a timeout of its own.
/// </summary>
internal sealed class BuildSignals
{
    private readonly ConcurrentDictionary<Guid, TaskCompletionSource> _next = new();
    private TaskCompletionSource _nextEnd = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes at the next committed change of <paramref name="build"/>.</summary>
    public Task Next(Guid build) =>
        _next.GetOrAdd(build, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;

    public void Pulse(IEnumerable<Guid> builds)
    {
        foreach (var build in builds)
        {
            if (_next.TryRemove(build, out var waiters))
                waiters.TrySetResult();
        }
    }

    /// <summary>
    /// Completes after the next commit that ended any build (the graph sweeper: that build's dependents may be ready).
    /// Take it before reading, as <see cref="Next"/>.
    /// </summary>
    public Task NextEnd() => Volatile.Read(ref _nextEnd).Task;

    public void PulseEnd() =>
        Interlocked.Exchange(ref _nextEnd, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();

    /// <summary>Drops the wait a follower that stops following left behind (a build that never changes again would keep it).</summary>
    public void Forget(Guid build)
    {
        if (_next.TryRemove(build, out var waiters))
            waiters.TrySetResult();
    }

    /// <summary>Builds someone waits on (for tests: nothing is left behind).</summary>
    public int Waiting => _next.Count;
}
