using BuildFarm.Messaging.Signing;
using BuildFarm.Worker.Configuration;
using BuildFarm.Worker.Keys;
using Microsoft.Extensions.Options;
using Serilog;

namespace BuildFarm.Worker.Control;

/// <summary>
/// Control commands are acted on only when signed by a trusted dispatcher key (the one requests are checked with,
/// <see cref="WorkerKeys.TrustedDispatchers"/>) and issued within <see cref="FreshnessSection.MaxCommandAge"/>: anyone
/// who can publish on the broker can otherwise drain, pause or cancel any worker.
/// </summary>
internal sealed class CommandVerifier(WorkerKeys keys, IOptions<WorkerOptions> options, TimeProvider time, ILogger logger)
{
    /// <summary>True when <paramref name="command"/> may be acted on; otherwise logs why it is refused.</summary>
    public bool Accept(object command, DateTimeOffset? issuedAt)
    {
        var problem = Problem(command, issuedAt);
        if (problem is null)
            return true;
        logger.Warning("Refused {Command} control command: {Reason}", command.GetType().Name, problem);
        return false;
    }

    private string? Problem(object command, DateTimeOffset? issuedAt)
    {
        var keyName = MessageSignatures.KeyNameOf(command);
        var key = keyName is null ? null : keys.TrustedDispatchers.Keys.FirstOrDefault(k => k.Name == keyName);
        if (keyName is not null && key is null)
            return $"signed by key '{keyName}', which is not in Keys:TrustedDispatcherKeysFile";
        if (MessageSignatures.Problem(command, key) is { } bad)
            return keyName is null && MessageSignatures.SignatureOf(command) is { Length: > 0 } ? "malformed signature (not name:base64 of 64 bytes)" : bad;
        if (issuedAt is not { } at)
            return "no issue time";
        var f = options.Value.Freshness;
        var now = time.GetUtcNow();
        if (at > now + f.ClockSkew)
            return $"issued at {at:O}, ahead of this worker's clock by more than Freshness:ClockSkew {f.ClockSkew}";
        if (now - at > f.MaxCommandAge)
            return $"issued at {at:O}, {(now - at).TotalSeconds:0} s ago, beyond Freshness:MaxCommandAge {f.MaxCommandAge} (a replay?)";
        return null;
    }
}
