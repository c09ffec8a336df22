using BuildFarm.Transfer.Errors;
using BuildFarm.Transfer.Exec;
using BuildFarm.Transfer.Origins;
using Renci.SshNet;
using Renci.SshNet.Common;
using Serilog;

namespace BuildFarm.Transfer.Connections;

/// <summary>Loads the client key once and opens SSH.NET connections with it.</summary>
internal sealed class SshNetOpener : IConnectionOpener
{
    private readonly OriginConnectionSettings _settings;
    private readonly ILogger _logger;
    private readonly IPrivateKeySource _key;

    public SshNetOpener(OriginConnectionSettings settings, ILogger logger)
    {
        _settings = settings;
        _logger = logger;
        try
        {
            _key = new PrivateKeyFile(settings.PrivateKeyFile);
        }
        catch (Exception e) when (e is SshException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            throw new InvalidOriginConnectionSettingsException(settings, [$"PrivateKeyFile '{settings.PrivateKeyFile}' cannot be loaded: {e.Message}"]);
        }
    }

    public async Task<PooledConnection> OpenAsync(int id, CancellationToken cancellationToken) =>
        await SshConnection.OpenAsync(_settings, _key, id, _logger, cancellationToken);

    public void Dispose()
    {
        if (_key is IDisposable key)
            key.Dispose();
    }
}

/// <summary>One authenticated SSH.NET connection to an origin; carries up to ChannelsPerConnection exec channels.</summary>
internal sealed class SshConnection : PooledConnection
{
    private readonly SshClient _client;

    private SshConnection(int id, SshClient client)
        : base(id)
    {
        _client = client;
        _client.ErrorOccurred += (_, _) => MarkBroken();
    }

    public SshClient Client => _client;

    protected override bool IsAlive => _client.IsConnected;

    public override Task<RemoteProcess> StartAsync(string origin, ChannelLease lease, string command, CancellationToken lifetime) =>
        SshNetProcess.StartAsync(origin, lease, _client, command, lifetime);

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

    public override void Dispose()
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
