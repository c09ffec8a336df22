using BuildFarm.Integration.Tests.EndToEnd;

namespace BuildFarm.Ui.Tests.Live;

/// <summary>
/// The worker processes one live UI test started. Disposing stops them as an operator would (SIGTERM: the agent
/// finishes, announces that it went offline and exits), so the next test's pages and probe no longer list them as
/// online for a lease; one that has not exited after the grace period is killed.
/// </summary>
internal sealed class LiveWorkers(IEnumerable<RealWorker> started) : IAsyncDisposable
{
    private static readonly TimeSpan Grace = TimeSpan.FromSeconds(15);
    private readonly List<RealWorker> _workers = [.. started];

    public void Add(IEnumerable<RealWorker> more) => _workers.AddRange(more);

    public async ValueTask DisposeAsync()
    {
        await Task.WhenAll(_workers.Select(StopAsync));
        foreach (var w in _workers)
            w.Dispose();
    }

    private static async Task StopAsync(RealWorker worker)
    {
        try
        {
            await worker.SignalAsync("TERM");
            await worker.WaitForExitAsync(Grace);
        }
        catch (Exception e) when (e is TimeoutException or InvalidOperationException)
        {
            // Still running or already gone: Dispose kills what is left.
        }
    }
}
