namespace BuildFarm.Worker.Control;

/// <summary>
/// The dispatcher's clock as this worker knows it: a lower bound taken from the signed issue times of the dispatcher's
/// messages it received (build requests and control commands). A genuine message was issued before it arrived, so its
/// <c>IssuedAt</c> plus the time elapsed here since is at most the dispatcher's clock now; the freshest message gives
/// the tightest bound. Elapsed time is this worker's monotonic clock (<see cref="TimeProvider.GetTimestamp"/>), so the
/// estimate does not depend on the worker's wall clock: a worker whose clock is far ahead still judges a command's age.
/// </summary>
/// <remarks>
/// Only messages whose signature verified are observed, so a forgery cannot move it; a replay is older than what it
/// replays and can only leave it where it is. It never moves back (a dispatcher whose clock is stepped back is judged
/// by the later of the two until this worker restarts), and it is unknown until the first message arrives.
/// </remarks>
internal sealed class DispatcherClock(TimeProvider time)
{
    private readonly Lock _gate = new();
    private DateTimeOffset _issuedAt;
    private long _receivedAt;
    private bool _known;

    /// <summary>Takes a verified message's signed issue time into account.</summary>
    public void Observe(DateTimeOffset issuedAt)
    {
        var now = time.GetTimestamp();
        lock (_gate)
        {
            if (_known && issuedAt <= _issuedAt + time.GetElapsedTime(_receivedAt, now))
                return;
            (_issuedAt, _receivedAt, _known) = (issuedAt, now, true);
        }
    }

    /// <summary>The dispatcher's clock now, at least; null before any signed dispatcher message arrived.</summary>
    public DateTimeOffset? Now()
    {
        lock (_gate)
            return _known ? _issuedAt + time.GetElapsedTime(_receivedAt) : null;
    }
}
