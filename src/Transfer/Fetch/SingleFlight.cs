namespace BuildFarm.Transfer.Fetch;

/// <summary>
/// Deduplicates concurrent work by key: while a flight for a key is running, every other caller asking for that key
/// joins it instead of starting its own. Nothing is cached: once a flight ends (result or error), the next request
/// starts a new one. A batch request claims all its keys that are not already in flight with one call of the work
/// function and joins the flights of the others.
/// </summary>
/// <remarks>
/// Cancellation: a caller's token only stops that caller waiting. The flight itself runs under the
/// <see cref="SingleFlight{TKey,TResult}"/>'s own lifetime (cancelled by <see cref="Dispose"/>), because other
/// callers may still need its result.
/// </remarks>
public sealed class SingleFlight<TKey, TResult> : IDisposable
    where TKey : notnull
{
    private readonly Dictionary<TKey, Task<TResult>> _inFlight;
    private readonly Lock _gate = new();
    private readonly CancellationTokenSource _lifetime = new();
    private long _flights;

    public SingleFlight(IEqualityComparer<TKey>? comparer = null)
    {
        _inFlight = new Dictionary<TKey, Task<TResult>>(comparer);
    }

    /// <summary>Calls of a work function so far (how many flights actually ran).</summary>
    public long Flights => Interlocked.Read(ref _flights);

    /// <summary>Keys currently in flight.</summary>
    public int InFlightCount
    {
        get
        {
            lock (_gate)
                return _inFlight.Count;
        }
    }

    /// <summary>Runs <paramref name="work"/> for <paramref name="key"/>, or joins the flight already running for it.</summary>
    public async Task<TResult> RunAsync(TKey key, Func<TKey, CancellationToken, Task<TResult>> work, CancellationToken cancellationToken)
    {
        var results = await RunBatchAsync(
            [key],
            async (keys, ct) => new Dictionary<TKey, TResult> { [keys[0]] = await work(keys[0], ct) },
            cancellationToken);
        return results[key];
    }

    /// <summary>
    /// Gets a result for every key: keys already in flight are joined; the rest are claimed together and passed to
    /// one call of <paramref name="work"/>, which must return a result for each key it was given (a missing key fails
    /// that key's flight with <see cref="KeyNotFoundException"/>).
    /// </summary>
    public async Task<IReadOnlyDictionary<TKey, TResult>> RunBatchAsync(
        IEnumerable<TKey> keys,
        Func<IReadOnlyList<TKey>, CancellationToken, Task<IReadOnlyDictionary<TKey, TResult>>> work,
        CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_lifetime.IsCancellationRequested, this);
        var waits = new Dictionary<TKey, Task<TResult>>(_inFlight.Comparer);
        var claimed = new Dictionary<TKey, TaskCompletionSource<TResult>>(_inFlight.Comparer);
        lock (_gate)
        {
            foreach (var key in keys)
            {
                if (waits.ContainsKey(key))
                    continue;
                if (!_inFlight.TryGetValue(key, out var task))
                {
                    var tcs = new TaskCompletionSource<TResult>(TaskCreationOptions.RunContinuationsAsynchronously);
                    claimed[key] = tcs;
                    task = tcs.Task;
                    _inFlight[key] = task;
                }

                waits[key] = task;
            }
        }

        if (claimed.Count > 0)
        {
            Interlocked.Increment(ref _flights);
            // Not awaited here: the flight completes its keys even if this caller stops waiting.
            _ = FlyAsync(claimed, work);
        }

        var results = new Dictionary<TKey, TResult>(_inFlight.Comparer);
        foreach (var (key, task) in waits)
            results[key] = await task.WaitAsync(cancellationToken);
        return results;
    }

    public void Dispose()
    {
        _lifetime.Cancel();
        _lifetime.Dispose();
    }

    private async Task FlyAsync(
        Dictionary<TKey, TaskCompletionSource<TResult>> claimed,
        Func<IReadOnlyList<TKey>, CancellationToken, Task<IReadOnlyDictionary<TKey, TResult>>> work)
    {
        // Yield first so the work never runs inline under the caller's stack (and its locks).
        await Task.Yield();
        IReadOnlyDictionary<TKey, TResult>? results = null;
        Exception? failure = null;
        try
        {
            results = await work([.. claimed.Keys], _lifetime.Token);
        }
        catch (Exception e)
        {
            failure = e;
        }

        // Leave the in-flight table before completing: whoever sees the outcome and asks again starts a new flight.
        lock (_gate)
        {
            foreach (var key in claimed.Keys)
                _inFlight.Remove(key);
        }

        foreach (var (key, tcs) in claimed)
        {
            if (failure is OperationCanceledException cancelled)
                tcs.TrySetCanceled(cancelled.CancellationToken);
            else if (failure is not null)
                tcs.TrySetException(failure);
            else if (results!.TryGetValue(key, out var result))
                tcs.TrySetResult(result);
            else
                tcs.TrySetException(new KeyNotFoundException($"The batch fetch returned no result for '{key}'."));
        }
    }
}
