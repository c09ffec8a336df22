using BuildFarm.Transfer.OpenSsh;
using BuildFarm.Transfer.Origins;
using Serilog;

namespace BuildFarm.Transfer.Connections;

/// <summary>
/// Connections to one origin, shared by every build and slot of a worker. A lease is one exec channel: channels are
/// packed onto open connections first, and a new connection is opened only when all are full, up to
/// <see cref="OriginConnectionSettings.MaxConnections"/>; past that, callers wait for a free channel. A connection that drops is
/// dropped from the pool (closed when its last channel is released) and replaced on the next lease. A connection is
/// an SSH.NET client or an OpenSSH ControlMaster (<see cref="OriginConnectionSettings.Transport"/>); a channel, an exec
/// channel or a multiplexed session.
/// </summary>
public sealed class OriginConnectionPool : IAsyncDisposable
{
    private readonly OriginConnectionSettings _settings;
    private readonly ILogger _logger;
    private readonly IConnectionOpener _opener;
    private readonly SemaphoreSlim _capacity;
    private readonly SemaphoreSlim _connectLock = new(1, 1);
    private readonly Lock _gate = new();
    private readonly List<PooledConnection> _connections = [];
    private readonly CancellationTokenSource _shutdown = new();
    private int _nextId;
    private long _opened;
    private int _activeChannels;
    private bool _disposed;

    public OriginConnectionPool(OriginConnectionSettings settings, ILogger? logger = null)
    {
        _settings = settings.EnsureValid();
        _logger = (logger ?? Log.Logger).ForContext<OriginConnectionPool>();
        _opener = settings.Transport switch
        {
            OriginTransport.OpenSsh => new OpenSshOpener(settings, _logger),
            _ => new SshNetOpener(settings, _logger),
        };

        _capacity = new SemaphoreSlim(settings.MaxConnections * settings.ChannelsPerConnection);
    }

    public OriginConnectionSettings Settings => _settings;

    /// <summary>Connections opened since the pool was created (reconnects included).</summary>
    public long ConnectionsOpened => Interlocked.Read(ref _opened);

    /// <summary>Connections currently in the pool and usable.</summary>
    public int OpenConnections
    {
        get
        {
            lock (_gate)
                return _connections.Count(c => c.IsUsable);
        }
    }

    /// <summary>Channels currently leased.</summary>
    public int ActiveChannels => Volatile.Read(ref _activeChannels);

    /// <summary>
    /// Leases one channel, connecting if needed. Throws whatever connecting threw (the resilience pipeline decides
    /// about retrying); a host key mismatch is a <see cref="Errors.HostKeyMismatchException"/>.
    /// </summary>
    public async Task<ChannelLease> AcquireAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _shutdown.Token);
        await _capacity.WaitAsync(linked.Token);
        try
        {
            if (TryLeaseOnOpenConnection() is { } lease)
                return lease;
            await _connectLock.WaitAsync(linked.Token);
            try
            {
                // Someone else may have connected while we waited for the lock.
                if (TryLeaseOnOpenConnection() is { } reused)
                    return reused;
                var id = Interlocked.Increment(ref _nextId);
                var connection = await _opener.OpenAsync(id, linked.Token);
                Interlocked.Increment(ref _opened);
                lock (_gate)
                {
                    if (_disposed)
                    {
                        connection.Dispose();
                        throw new ObjectDisposedException(nameof(OriginConnectionPool));
                    }

                    _connections.Add(connection);
                    return LeaseOn(connection);
                }
            }
            finally
            {
                _connectLock.Release();
            }
        }
        catch
        {
            _capacity.Release();
            throw;
        }
    }

    internal void Release(PooledConnection connection)
    {
        var close = false;
        lock (_gate)
        {
            connection.ActiveChannels--;
            _activeChannels--;
            if (!connection.IsUsable && connection.ActiveChannels == 0)
            {
                _connections.Remove(connection);
                close = true;
            }
        }

        if (close)
        {
            _logger.Information("Closing broken connection {ConnectionId} to origin {Origin}", connection.Id, _settings.Name);
            connection.Dispose();
        }

        if (!_disposed)
            _capacity.Release();
    }

    private ChannelLease? TryLeaseOnOpenConnection()
    {
        List<PooledConnection> dead = [];
        ChannelLease? lease = null;
        lock (_gate)
        {
            foreach (var c in _connections)
            {
                if (!c.IsUsable)
                {
                    if (c.ActiveChannels == 0)
                        dead.Add(c);
                    continue;
                }

                if (lease is null && c.ActiveChannels < _settings.ChannelsPerConnection)
                    lease = LeaseOn(c);
            }

            foreach (var c in dead)
                _connections.Remove(c);
        }

        foreach (var c in dead)
        {
            _logger.Information("Dropping disconnected connection {ConnectionId} to origin {Origin}", c.Id, _settings.Name);
            c.Dispose();
        }

        return lease;
    }

    private ChannelLease LeaseOn(PooledConnection connection)
    {
        connection.ActiveChannels++;
        _activeChannels++;
        return new ChannelLease(this, connection);
    }

    public async ValueTask DisposeAsync()
    {
        PooledConnection[] all;
        lock (_gate)
        {
            if (_disposed)
                return;
            _disposed = true;
            all = [.. _connections];
            _connections.Clear();
        }

        await _shutdown.CancelAsync();
        foreach (var c in all)
            c.Dispose();
        _opener.Dispose();
        _shutdown.Dispose();
    }
}
