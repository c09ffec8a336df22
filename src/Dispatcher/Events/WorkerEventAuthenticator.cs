using System.Collections.Concurrent;
using BuildFarm.Dispatcher.Lifecycle;
using BuildFarm.Messaging.Signing;
using BuildFarm.Store.Signing;
using Serilog;

namespace BuildFarm.Dispatcher.Events;

/// <summary>
/// Decides whether a worker event speaks for the worker it names. It must be signed (<see cref="MessageSignatures"/>)
/// by a key of <c>Dispatcher:TrustedWorkerKeysFile</c>, and that key must be the one bound to the worker name: the
/// first trusted key that signs for a name is bound to it (durably, <see cref="WorkerKeyTable"/>), and while that key
/// stays in the file no other key may speak for the name. Removing a key from the file revokes it and frees its names
/// for the worker's next key (rotation). Anything else is refused with a reason and never applied.
/// </summary>
/// <remarks>
/// Heartbeats stay cheap: a known binding is served from memory, so a check is one Ed25519 verification and the
/// trusted file's compare-on-read (<see cref="TrustedKeysFile.Current"/>), no database round trip.
/// </remarks>
internal sealed class WorkerEventAuthenticator(TrustedKeysFile trustedKeys, LifecycleDatabase db, TimeProvider time)
{
    private readonly ConcurrentDictionary<string, string> _bound = new(StringComparer.Ordinal);

    /// <summary>
    /// True when the event may be applied; otherwise logs why it is dropped. Dropping acks it: a forgery is not worth
    /// redelivering, and a genuine event from a worker whose key is not trusted yet is repeated by its next heartbeat
    /// (results are not, which the lease then resolves: the attempt is retried).
    /// </summary>
    /// <param name="worker">The worker the event names.</param>
    /// <param name="message">The event.</param>
    /// <param name="cancellationToken">Cancels the key binding's database work.</param>
    /// <param name="unknownMembers">
    /// Read on a refusal only: the event's members this dispatcher's contracts lack (<see cref="EventMembers"/>). A worker
    /// one contract version newer signs fields this dispatcher cannot rebuild, and the refusal says so instead of "bad
    /// signature" alone.
    /// </param>
    public async Task<bool> AcceptAsync(string worker, object message, CancellationToken cancellationToken, Func<IReadOnlyList<string>>? unknownMembers = null)
    {
        var refusal = await RefusalAsync(worker, message, cancellationToken, unknownMembers);
        if (refusal is null)
            return true;
        Log.ForContext("Worker", worker).Warning("Dropped {EventType} naming worker {Worker}: {Reason}", message.GetType().Name, worker, refusal);
        return false;
    }

    /// <summary>Null when <paramref name="message"/> is <paramref name="worker"/>'s own signed event; otherwise why it is refused.</summary>
    public async Task<string?> RefusalAsync(string worker, object message, CancellationToken cancellationToken, Func<IReadOnlyList<string>>? unknownMembers = null)
    {
        var refusal = await SignatureRefusalAsync(worker, message, cancellationToken);
        if (refusal is not null && unknownMembers?.Invoke() is { Count: > 0 } unknown)
        {
            refusal += $"; it carries members this dispatcher's contracts lack ({string.Join(", ", unknown)}): it comes from a worker of a newer " +
                $"contract version than this dispatcher speaks ({string.Join(", ", Contracts.ContractsInfo.Spoken)}); upgrade the dispatcher first (docs/operations.md, Upgrades)";
        }

        return refusal;
    }

    private async Task<string?> SignatureRefusalAsync(string worker, object message, CancellationToken cancellationToken)
    {
        var keyName = MessageSignatures.KeyNameOf(message);
        if (keyName is null)
        {
            return MessageSignatures.SignatureOf(message) is null or ""
                ? MessageSignatures.Problem(message, null)
                : "malformed signature (not name:base64 of 64 bytes)";
        }

        var trusted = trustedKeys.Current();
        var key = trusted.Keys.FirstOrDefault(k => k.Name == keyName);
        if (key is null)
            return $"signed by key '{keyName}', which is not in Dispatcher:TrustedWorkerKeysFile";
        if (MessageSignatures.Problem(message, key) is { } problem)
            return problem;

        var keyText = key.ToString();
        if (_bound.TryGetValue(worker, out var boundText) && boundText == keyText)
            return null;
        return await BindAsync(worker, key, keyText, trusted, cancellationToken);
    }

    private async Task<string?> BindAsync(string worker, VerifyingKey key, string keyText, TrustedKeys trusted, CancellationToken cancellationToken)
    {
        var (refusal, rebound) = await db.RunAsync(async s =>
        {
            var bound = await WorkerKeyTable.GetAsync(s, worker);
            if (bound == keyText)
                return ((string?)null, (string?)null);
            if (bound is not null && trusted.Keys.Any(k => k.ToString() == bound))
            {
                return ($"worker name '{worker}' is bound to key '{bound[..bound.IndexOf(':', StringComparison.Ordinal)]}', " +
                    $"still trusted; key '{key.Name}' may not speak for it (remove the old key from Dispatcher:TrustedWorkerKeysFile to rotate)", null);
            }

            await WorkerKeyTable.BindAsync(s, worker, keyText, time.GetUtcNow());
            return (null, bound ?? "");
        }, cancellationToken);
        if (refusal is not null)
            return refusal;
        _bound[worker] = keyText;
        if (rebound == "")
            Log.ForContext("Worker", worker).Information("Worker {Worker} is bound to its signing key {KeyName}", worker, key.Name);
        else if (rebound is not null)
            Log.ForContext("Worker", worker).Warning("Worker {Worker} is bound to key {KeyName} instead of its revoked key", worker, key.Name);
        return null;
    }
}
