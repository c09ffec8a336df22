using BuildFarm.Transfer.Fetch;

namespace BuildFarm.Transfer.Tests.Fetch;

public sealed class SingleFlightTests
{
    [Fact]
    public async Task RunAsync_TenConcurrentCallersSameKey_WorkRunsOnce()
    {
        using var flights = new SingleFlight<string, string>();
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var calls = 0;

        var callers = Enumerable.Range(0, 10).Select(_ => flights.RunAsync(
            "/nix/store/abc-hello",
            async (key, ct) =>
            {
                Interlocked.Increment(ref calls);
                await release.Task.WaitAsync(ct);
                return "fetched " + key;
            },
            CancellationToken.None)).ToList();
        Assert.Equal(1, flights.InFlightCount);
        release.SetResult();
        var results = await Task.WhenAll(callers);

        Assert.Equal(1, calls);
        Assert.Equal(1, flights.Flights);
        Assert.All(results, r => Assert.Equal("fetched /nix/store/abc-hello", r));
        Assert.Equal(0, flights.InFlightCount);
    }

    [Fact]
    public async Task RunBatchAsync_OverlappingBatches_ClaimOnlyKeysNotInFlight()
    {
        using var flights = new SingleFlight<string, int>();
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var batches = new List<IReadOnlyList<string>>();

        async Task<IReadOnlyDictionary<string, int>> Work(IReadOnlyList<string> keys, CancellationToken ct)
        {
            lock (batches)
                batches.Add(keys);
            await release.Task.WaitAsync(ct);
            return keys.ToDictionary(k => k, k => k.Length);
        }

        var first = flights.RunBatchAsync(["a", "bb"], Work, CancellationToken.None);
        var second = flights.RunBatchAsync(["bb", "ccc"], Work, CancellationToken.None);
        release.SetResult();
        var (one, two) = (await first, await second);

        // Each claim is made on the caller's thread, but the flights run on the pool: their Work calls may come in
        // either order.
        Assert.Equal(["a+bb", "ccc"], batches.Select(b => string.Join('+', b)).Order(StringComparer.Ordinal));
        Assert.Equal(2, one["bb"]);
        Assert.Equal(2, two["bb"]);
        Assert.Equal(3, two["ccc"]);
    }

    [Fact]
    public async Task RunAsync_WorkFails_AllWaitersSeeErrorAndNextCallStartsAfresh()
    {
        using var flights = new SingleFlight<string, int>();
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var calls = 0;

        async Task<int> Failing(string key, CancellationToken ct)
        {
            Interlocked.Increment(ref calls);
            await release.Task.WaitAsync(ct);
            throw new IOException("origin unreachable");
        }

        var waiters = Enumerable.Range(0, 3).Select(_ => flights.RunAsync("k", Failing, CancellationToken.None)).ToList();
        release.SetResult();
        foreach (var waiter in waiters)
            Assert.Equal("origin unreachable", (await Assert.ThrowsAsync<IOException>(() => waiter)).Message);

        Assert.Equal(42, await flights.RunAsync("k", (_, _) => Task.FromResult(42), CancellationToken.None));
        Assert.Equal(1, calls);
        Assert.Equal(2, flights.Flights);
    }

    [Fact]
    public async Task RunAsync_OneCallerCancels_OthersStillGetTheResult()
    {
        using var flights = new SingleFlight<string, int>();
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var impatient = new CancellationTokenSource();
        Func<string, CancellationToken, Task<int>> work = async (_, ct) =>
        {
            await release.Task.WaitAsync(ct);
            return 7;
        };

        var cancelled = flights.RunAsync("k", work, impatient.Token);
        var patient = flights.RunAsync("k", work, CancellationToken.None);
        await impatient.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled);
        release.SetResult();

        Assert.Equal(7, await patient);
        Assert.Equal(1, flights.Flights);
    }
}
