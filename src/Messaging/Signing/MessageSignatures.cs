using BuildFarm.Contracts.Builds;
using BuildFarm.Contracts.Workers;
using BuildFarm.Store.Signing;

namespace BuildFarm.Messaging.Signing;

/// <summary>
/// The signatures messages carry from contract version 2: every worker event is signed by its worker's output key,
/// every control command by the dispatcher's request key, each over <see cref="SignedText"/> (every field but the
/// signature, in a fixed order, kind first). The signing side calls <see cref="Sign{T}"/>; the receiving side checks
/// <see cref="SignatureOf"/> over <see cref="SignedText"/> with the keys it trusts for that sender.
/// </summary>
/// <remarks>
/// Versions: the version-2 texts are frozen (tests pin them), so releases one contract version apart check each other's
/// signatures. A field added by a later version must enter its kind's text only when it is non-null, so that an older
/// sender's message (without it) gives the same text to the newer reader; and a sender fills it only in answer to a
/// request of that version (events) or once every reader speaks it (heartbeats). A reader that gets a signed field it
/// does not know cannot rebuild the text: the dispatcher then names the unknown members in its refusal.
/// </remarks>
public static class MessageSignatures
{
    /// <summary>The canonical text of a signed message (its <c>Signature</c> excluded).</summary>
    /// <exception cref="ArgumentException">The message is not a kind that is signed.</exception>
    public static string SignedText(object message) => message switch
    {
        BuildStarted m => new CanonicalText("BuildStarted").Add(m.BuildId).Add(m.Attempt).Add(m.WorkerName).Add(m.StartedAt)
            .Add(m.Isolation?.ToString()).ToString(),
        BuildLogEmitted m => new CanonicalText("BuildLogEmitted").Add(m.BuildId).Add(m.Attempt).Add(m.WorkerName).Add(m.Sequence).Add(m.Text).ToString(),
        BuildSucceeded m => new CanonicalText("BuildSucceeded").Add(m.BuildId).Add(m.Attempt).Add(m.WorkerName)
            .AddList(m.Outputs, (t, o) => t.Add(o.Name).Add(o.Path).Add(o.NarHash).Add(o.NarSize).AddList(o.References).AddList(o.Signatures))
            .Add(m.Timings.InputFetch).Add(m.Timings.Build).Add(m.Timings.Upload).Add(m.FinishedAt).Add(m.InputBytesFetched).ToString(),
        BuildFailed m => new CanonicalText("BuildFailed").Add(m.BuildId).Add(m.Attempt).Add(m.WorkerName).Add(m.Kind.ToString())
            .Add(m.ExitCode).Add(m.Reason).Add(m.LogTail).Add(m.FinishedAt).ToString(),
        BuildRequestExpired m => new CanonicalText("BuildRequestExpired").Add(m.BuildId).Add(m.Attempt).Add(m.WorkerName).Add(m.IssuedAt)
            .Add(m.RefusedAt).Add(m.Reason).Add(m.MaxAge).ToString(),
        WorkerStatusReported m => new CanonicalText("WorkerStatusReported").Add(m.WorkerName)
            .AddList(m.Capabilities.Systems).AddList(m.Capabilities.SupportedFeatures).AddList(m.Capabilities.MandatoryFeatures)
            .Add(m.Capabilities.Slots).Add(m.Capabilities.SpeedFactor)
            .AddList(m.RunningBuilds, (t, r) => t.Add(r.BuildId).Add(r.Attempt))
            .Add(m.Load).Add(m.FreeDiskBytes).Add(m.Version).Add(m.Draining).Add(m.Paused).Add(m.Note).Add(m.SentAt)
            .Add(m.Isolation?.Isolation.ToString()).Add(m.Isolation?.Reason)
            .Add(m.Store?.UsedBytes).Add(m.Store?.MaxBytes).Add(m.Store?.EvictedPaths).Add(m.Store?.EvictedBytes).ToString(),
        WorkerWentOffline m => new CanonicalText("WorkerWentOffline").Add(m.WorkerName).Add(m.Reason).Add(m.At).ToString(),
        CancelBuild m => new CanonicalText("CancelBuild").Add(m.BuildId).Add(m.Reason).Add(m.WorkerName).Add(m.Attempt).Add(m.IssuedAt).AddIfSet(m.CommandId).ToString(),
        DrainWorker m => new CanonicalText("DrainWorker").Add(m.WorkerName).Add(m.Note).Add(m.IssuedAt).AddIfSet(m.CommandId).ToString(),
        PauseWorker m => new CanonicalText("PauseWorker").Add(m.WorkerName).Add(m.Note).Add(m.IssuedAt).AddIfSet(m.CommandId).ToString(),
        ResumeWorker m => new CanonicalText("ResumeWorker").Add(m.WorkerName).Add(m.IssuedAt).AddIfSet(m.CommandId).ToString(),
        ProbeWorkers m => new CanonicalText("ProbeWorkers").Add(m.ProbeId).Add(m.Origin?.Host).Add(m.Origin?.Port).Add(m.Origin?.User)
            .Add(m.Origin?.HostKeyFingerprint).Add(m.Origin?.RemoteCommand).Add(m.SentAt).ToString(),
        _ => throw new ArgumentException($"{message.GetType().Name} is not a signed message kind", nameof(message)),
    };

    /// <summary>The message with its <c>Signature</c> set by <paramref name="key"/>; other kinds pass through unchanged.</summary>
    public static T Sign<T>(T message, SigningKey key)
        where T : class
    {
        if (!IsSigned(message))
            return message;
        var signature = key.Sign(SignedText(message));
        object signed = message switch
        {
            BuildStarted m => m with { Signature = signature },
            BuildLogEmitted m => m with { Signature = signature },
            BuildSucceeded m => m with { Signature = signature },
            BuildFailed m => m with { Signature = signature },
            BuildRequestExpired m => m with { Signature = signature },
            WorkerStatusReported m => m with { Signature = signature },
            WorkerWentOffline m => m with { Signature = signature },
            CancelBuild m => m with { Signature = signature },
            DrainWorker m => m with { Signature = signature },
            PauseWorker m => m with { Signature = signature },
            ResumeWorker m => m with { Signature = signature },
            ProbeWorkers m => m with { Signature = signature },
            _ => message,
        };
        return (T)signed;
    }

    /// <summary>True for the kinds that carry a signature of their own in this scheme.</summary>
    public static bool IsSigned(object message) => message is BuildStarted or BuildLogEmitted or BuildSucceeded or BuildFailed
        or BuildRequestExpired or WorkerStatusReported or WorkerWentOffline or CancelBuild or DrainWorker or PauseWorker or ResumeWorker or ProbeWorkers;

    /// <summary>The message's <c>Signature</c>, or null (unsigned, or not a signed kind).</summary>
    public static string? SignatureOf(object message) => message switch
    {
        BuildStarted m => m.Signature,
        BuildLogEmitted m => m.Signature,
        BuildSucceeded m => m.Signature,
        BuildFailed m => m.Signature,
        BuildRequestExpired m => m.Signature,
        WorkerStatusReported m => m.Signature,
        WorkerWentOffline m => m.Signature,
        CancelBuild m => m.Signature,
        DrainWorker m => m.Signature,
        PauseWorker m => m.Signature,
        ResumeWorker m => m.Signature,
        ProbeWorkers m => m.Signature,
        _ => null,
    };

    /// <summary>
    /// Checks the signature of <paramref name="message"/> by exactly <paramref name="key"/>: null when valid, else why
    /// not (unsigned, malformed, another key, or the fields were changed after signing).
    /// </summary>
    public static string? Problem(object message, VerifyingKey? key)
    {
        var text = SignatureOf(message);
        if (string.IsNullOrWhiteSpace(text))
            return $"unsigned (a sender older than contract version {Contracts.ContractsInfo.SignedMessagesVersion}, or a forgery)";
        if (key is null)
            return "no key to check the signature with";
        if (!NixSignature.TryParse(text, out var signature, out var error))
            return $"malformed signature: {error}";
        if (signature!.KeyName != key.Name)
            return $"signed by key '{signature.KeyName}', expected '{key.Name}'";
        return key.Verify(SignedText(message), signature) ? null : $"bad signature by '{key.Name}' (the fields do not match what the key signed)";
    }

    /// <summary>The key name a signature claims, or null when there is no parsable signature.</summary>
    public static string? KeyNameOf(object message) =>
        SignatureOf(message) is { } text && NixSignature.TryParse(text, out var signature, out _) ? signature!.KeyName : null;
}
