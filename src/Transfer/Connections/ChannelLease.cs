namespace BuildFarm.Transfer.Connections;

/// <summary>The right to run one exec channel on a pooled connection; dispose to give it back.</summary>
public sealed class ChannelLease : IDisposable
{
    private readonly OriginConnectionPool _pool;
    private readonly PooledConnection _connection;
    private int _released;

    internal ChannelLease(OriginConnectionPool pool, PooledConnection connection)
    {
        _pool = pool;
        _connection = connection;
    }

    /// <summary>Which pooled connection carries this channel (1, 2, ... in opening order).</summary>
    public int ConnectionId => _connection.Id;

    internal PooledConnection Connection => _connection;

    /// <summary>The connection failed under this channel: it is closed once its last channel is released.</summary>
    public void MarkBroken() => _connection.MarkBroken();

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _released, 1) == 0)
            _pool.Release(_connection);
    }
}
