namespace BuildFarm.Transfer.Exec;

/// <summary>
/// Bounds one upload to a remote process by its progress, not its length: SSH.NET has no read or write timeout on an
/// open channel, so over a blackholed link (or to an origin that stopped reading) a write waits for the origin's
/// window, and a reply for its answer, until TCP gives up (many minutes). Progress is <c>progress</c>
/// changing: bytes the channel took (a write returns only once the origin's window had room, i.e. the origin consumed
/// what came before). When it stays the same for <c>timeout</c>, writes included and the wait for the
/// answer after the last byte, <c>onStall</c> gives up on the process (the caller drops its channel and
/// connection) and <see cref="RunAsync{T}"/> returns at once with an <see cref="Errors.UploadStalledException"/>.
/// </summary>
public sealed class UploadStallGuard : IDisposable
{
    private readonly TimeSpan _timeout;
    private readonly Func<long> _progress;
    private readonly Action _onStall;
    private readonly TimeProvider _time;
    private readonly CancellationTokenSource _stalled = new();
    private readonly CancellationTokenSource _done = new();
    private int _stall;

    public UploadStallGuard(TimeSpan timeout, Func<long> progress, Action onStall, TimeProvider time)
    {
        _timeout = timeout;
        _progress = progress;
        _onStall = onStall;
        _time = time;
        _ = WatchAsync();
    }

    /// <summary>True once the upload was given up for lack of progress.</summary>
    public bool Stalled => Volatile.Read(ref _stall) != 0;

    /// <summary>
    /// Runs <paramref name="upload"/> with a token that is cancelled when it stalls (or when
    /// <paramref name="cancellationToken"/> is). A stalled upload is abandoned: its task ends later, when the dropped
    /// connection wakes whatever it was blocked on, and its outcome is observed here, never rethrown.
    /// </summary>
    public async Task<T> RunAsync<T>(string origin, string command, Func<CancellationToken, Task<T>> upload, CancellationToken cancellationToken)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stalled.Token);
        var task = upload(linked.Token);
        try
        {
            return await task.WaitAsync(linked.Token);
        }
        catch (Exception e) when (Stalled && !cancellationToken.IsCancellationRequested)
        {
            _ = task.ContinueWith(static t => t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
            throw new Errors.UploadStalledException(origin, command, _timeout, _progress(), e is OperationCanceledException ? null : e);
        }
    }

    public void Dispose()
    {
        _done.Cancel();
        _done.Dispose();
    }

    private async Task WatchAsync()
    {
        var tick = TimeSpan.FromTicks(Math.Clamp(_timeout.Ticks / 8, TimeSpan.FromMilliseconds(50).Ticks, TimeSpan.FromSeconds(1).Ticks));
        var token = _done.Token;
        var seen = _progress();
        var since = _time.GetTimestamp();
        try
        {
            while (true)
            {
                await Task.Delay(tick, _time, token);
                var now = _progress();
                if (now != seen)
                {
                    (seen, since) = (now, _time.GetTimestamp());
                    continue;
                }

                if (_time.GetElapsedTime(since) < _timeout)
                    continue;
                Volatile.Write(ref _stall, 1);
                // The process is given up first (its connection marked broken, the kill sent in the background), then
                // the upload's awaits are released: nothing here waits on the link that stopped answering.
                _onStall();
                await _stalled.CancelAsync();
                return;
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            // The upload ended (done or failed) before stalling.
        }
    }
}
