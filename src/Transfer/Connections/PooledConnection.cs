using BuildFarm.Transfer.Exec;

namespace BuildFarm.Transfer.Connections;

/// <summary>One authenticated connection to an origin in <see cref="OriginConnectionPool"/>; carries up to ChannelsPerConnection commands.</summary>
internal abstract class PooledConnection(int id) : IDisposable
{
    private int _broken;

    public int Id { get; } = id;

    /// <summary>Channels currently leased on this connection (guarded by the pool's lock).</summary>
    public int ActiveChannels { get; set; }

    /// <summary>Not to be handed out again: the connection failed or dropped.</summary>
    public bool IsUsable => Volatile.Read(ref _broken) == 0 && IsAlive;

    protected abstract bool IsAlive { get; }

    public void MarkBroken() => Interlocked.Exchange(ref _broken, 1);

    /// <summary>Starts <paramref name="command"/> on this connection. Takes ownership of <paramref name="lease"/> (released on failure).</summary>
    public abstract Task<RemoteProcess> StartAsync(string origin, ChannelLease lease, string command, CancellationToken lifetime);

    public abstract void Dispose();
}

/// <summary>Opens the connections of one pool; owns what they share (a loaded key, a state directory).</summary>
internal interface IConnectionOpener : IDisposable
{
    Task<PooledConnection> OpenAsync(int id, CancellationToken cancellationToken);
}
