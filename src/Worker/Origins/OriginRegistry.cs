using BuildFarm.Contracts.Builds;
using BuildFarm.Store.Signing;
using BuildFarm.Transfer.Origins;
using BuildFarm.Transfer.Resilience;
using BuildFarm.Worker.Configuration;
using BuildFarm.Worker.Storage;
using Microsoft.Extensions.Options;
using Serilog;

namespace BuildFarm.Worker.Origins;

/// <summary>
/// Turns a request's <c>Origin</c> into the shared <see cref="OriginSession"/> of that origin, after checking it
/// against the worker's own config: the origin's host:port must be in <c>Origins:PinnedHostKeys</c> and the request's
/// fingerprint must be the pinned one. The SSH handshake then trusts only the config's fingerprints, so a dispatcher
/// can never make the worker trust a host key its operator did not pin.
/// </summary>
internal sealed class OriginRegistry(IOptions<WorkerOptions> options, WorkerStore store, TimeProvider time, ILogger logger) : IAsyncDisposable
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, OriginSession> _sessions = new(StringComparer.Ordinal);
    private TrustedKeysFile? _trusted;
    private bool _disposed;

    /// <summary>The session for <paramref name="origin"/>; throws <see cref="OriginException"/> with the reason when refused.</summary>
    public OriginSession Resolve(OriginEndpoint origin)
    {
        var o = options.Value.Origins;
        var where = $"{origin.Host}:{origin.Port}";
        if (o.PinnedHostKeys.Count == 0)
            throw new OriginException($"origin {where} refused: this worker has no Origins:PinnedHostKeys, so it cannot pull inputs from or return outputs to any origin");
        var pinned = o.PinnedHostKeys
            .Where(p => string.Equals(p.Host, origin.Host, StringComparison.OrdinalIgnoreCase) && p.Port == origin.Port)
            .Select(p => p.ResolveFingerprint(out _))
            .OfType<string>()
            .Distinct(StringComparer.Ordinal)
            .ToList();
        if (pinned.Count == 0)
        {
            var known = string.Join(", ", o.PinnedHostKeys.Select(p => $"{p.Host}:{p.Port}"));
            throw new OriginException($"origin {where} refused: it is not pinned in this worker's Origins:PinnedHostKeys (pinned: {known})");
        }

        if (!HostKeyFingerprint.TryParse(origin.HostKeyFingerprint, out var requested, out _) || !pinned.Contains(requested))
        {
            throw new OriginException(
                $"origin {where} refused: the request's host key fingerprint '{origin.HostKeyFingerprint}' is not the one pinned in this worker's config ({string.Join(", ", pinned)})");
        }

        var key = $"{origin.User}@{where}\n{origin.RemoteCommand}";
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_sessions.TryGetValue(key, out var session))
                return session;
            try
            {
                // Loaded once, then re-read by every input import when the file changed (a bad rewrite keeps the last good keys).
                _trusted ??= TrustedKeysFile.Load(o.TrustedInputKeysFile, out var problem, logger)
                    ?? throw new OriginException($"origin {origin.User}@{where} is unusable: Origins:TrustedInputKeysFile {problem}");
                var settings = new OriginConnectionSettings(origin.Host, origin.Port, origin.User, o.PrivateKeyFile, pinned, origin.RemoteCommand)
                {
                    Compression = o.Compression,
                    Transport = o.Transport,
                    MaxConnections = o.MaxConnections,
                    ChannelsPerConnection = o.ChannelsPerConnection,
                    ConnectTimeout = o.ConnectTimeout,
                };
                var resilience = new TransferResilienceOptions
                {
                    MaxRetryAttempts = o.MaxRetryAttempts,
                    BaseDelay = o.RetryBaseDelay,
                    MaxDelay = o.RetryMaxDelay,
                    BreakDuration = o.CircuitBreakDuration,
                };
                session = new OriginSession(new OriginClient(settings, resilience, logger, time), store, _trusted, new QuarantineServePool.Settings(o.UploadSessionIdle, time, o.UploadStallTimeout), logger);
            }
            catch (Exception e) when (e is InvalidOriginConnectionSettingsException or ArgumentException or FormatException or IOException or UnauthorizedAccessException)
            {
                throw new OriginException($"origin {origin.User}@{where} is unusable with this worker's Origins config: {e.Message}", e);
            }

            _sessions[key] = session;
            return session;
        }
    }

    public async ValueTask DisposeAsync()
    {
        OriginSession[] all;
        lock (_gate)
        {
            _disposed = true;
            all = [.. _sessions.Values];
            _sessions.Clear();
        }

        foreach (var s in all)
            await s.DisposeAsync();
    }
}
