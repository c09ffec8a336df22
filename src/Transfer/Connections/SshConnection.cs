using BuildFarm.Transfer.Origins;
using Renci.SshNet;
using Serilog;

namespace BuildFarm.Transfer.Connections;

/// <summary>One authenticated SSH connection to an origin; carries up to ChannelsPerConnection exec channels.</summary>
internal sealed class SshConnection : IDisposable
{
    private readonly SshClient _client;
    private int _broken;

    private SshConnection(int id, SshClient client)
    {
        Id = id;
        _client = client;
        _client.ErrorOccurred += (_, _) => MarkBroken();
    }

    public int Id { get; }

    public SshClient Client => _client;

    /// <summary>Channels currently leased on this connection (guarded by the pool's lock).</summary>
    public int ActiveChannels { get; set; }

    /// <summary>Not to be handed out again: the session failed or dropped.</summary>
    public bool IsUsable => Volatile.Read(ref _broken) == 0 && _client.IsConnected;

    public void MarkBroken() => Interlocked.Exchange(ref _broken, 1);

    public static async Task<SshConnection> OpenAsync(
        OriginConnectionSettings settings, IPrivateKeySource key, int id, ILogger logger, CancellationToken cancellationToken)
    {
        var info = new ConnectionInfo(settings.Host, settings.Port, settings.User, new PrivateKeyAuthenticationMethod(settings.User, key))
        {
            Timeout = settings.ConnectTimeout,
            // Our pool never exceeds ChannelsPerConnection; keep SSH.NET's own session semaphore out of the way.
            MaxSessions = Math.Max(settings.ChannelsPerConnection, 1),
            RetryAttempts = 1,
        };
        PreferCiphers(info, settings.PreferredCiphers);
        if (settings.Compression == TransferCompression.SshZlib)
        {
            // SSH.NET proposes "none" first, so the server never picks zlib; propose only zlib@openssh.com.
            var zlib = info.CompressionAlgorithms["zlib@openssh.com"];
            info.CompressionAlgorithms.Clear();
            info.CompressionAlgorithms.Add("zlib@openssh.com", zlib);
        }

        var client = new SshClient(info) { KeepAliveInterval = settings.KeepAliveInterval };
        var pinning = new HostKeyPinning(settings);
        pinning.Attach(client);
        try
        {
            await client.ConnectAsync(cancellationToken);
        }
        catch (Exception) when (pinning.Refused)
        {
            client.Dispose();
            pinning.ThrowIfRefused();
            throw;
        }
        catch
        {
            client.Dispose();
            throw;
        }

        logger.Information(
            "Connected to origin {Origin} (connection {ConnectionId}, host key {HostKey}, cipher {Cipher}, compression {Compression})",
            settings.Name, id, pinning.Presented, info.CurrentServerEncryption, info.CurrentClientCompressionAlgorithm);
        return new SshConnection(id, client);
    }

    /// <summary>Reorders SSH.NET's cipher proposal: <paramref name="preferred"/> (those it knows) first, the rest after.</summary>
    internal static void PreferCiphers(ConnectionInfo info, IReadOnlyList<string> preferred)
    {
        var all = info.Encryptions.ToList();
        info.Encryptions.Clear();
        foreach (var name in preferred)
        {
            var known = all.FindIndex(e => e.Key == name);
            if (known < 0)
                continue;
            info.Encryptions.Add(all[known].Key, all[known].Value);
            all.RemoveAt(known);
        }

        foreach (var (name, cipher) in all)
            info.Encryptions.Add(name, cipher);
    }

    public void Dispose()
    {
        MarkBroken();
        try
        {
            _client.Dispose();
        }
        catch (Exception e) when (e is ObjectDisposedException or InvalidOperationException or IOException)
        {
            // Disconnecting an already-dropped session may throw; the socket is closed either way.
        }
    }
}
