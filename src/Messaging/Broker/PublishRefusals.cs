using RabbitMQ.Client.Exceptions;

namespace BuildFarm.Messaging.Broker;

/// <summary>
/// When a publishing channel must be replaced. RabbitMQ 3.10 can leave a channel refusing every confirmed publish to a
/// quorum queue for as long as the queue's old leader node is down: the channel's first publish to that queue asks the
/// leader named in the queue record (stale until the new leader has written itself there) whether it runs Raft; that
/// node is dead, so the broker nacks, keeps its per-channel queue state unchanged, and asks the same dead node again on
/// the next publish (<c>rabbit_fifo_client:enqueue/3</c>; <c>rabbit_quorum_queue:update/2</c> never refreshes it;
/// fixed upstream in 3.11/3.12 by reading the leader from <c>ra_leaderboard</c>). A new channel reads the queue record
/// again, which by then names the new leader. So a nack (not a return, not a timeout) is the signal to replace the
/// channel; at most once per <paramref name="minInterval"/>, so a queue that really has no majority is not churned.
/// </summary>
public sealed class PublishRefusals(TimeProvider time, TimeSpan minInterval)
{
    /// <summary>The interval the farm's publishers use: a failover elects a leader within seconds.</summary>
    public static readonly TimeSpan DefaultMinInterval = TimeSpan.FromSeconds(5);

    private readonly Lock _lock = new();
    private DateTimeOffset? _lastReplaced;

    /// <summary>A broker nack of a confirmed publish, possibly wrapped (MassTransit wraps it in a connection exception).</summary>
    public static bool IsRefusal(Exception exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is PublishException publish)
                return !publish.IsReturn;
            if (e is AggregateException aggregate)
                return aggregate.InnerExceptions.Any(IsRefusal);
        }

        return false;
    }

    /// <summary>True when <paramref name="exception"/> is a refusal and no channel was replaced in the last interval:
    /// the caller replaces its channel (or connection) now.</summary>
    public bool ShouldReplace(Exception exception)
    {
        if (!IsRefusal(exception))
            return false;
        lock (_lock)
        {
            var now = time.GetUtcNow();
            if (_lastReplaced is { } last && now - last < minInterval)
                return false;
            _lastReplaced = now;
            return true;
        }
    }
}
