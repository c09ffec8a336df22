using BuildFarm.Contracts.Builds;
using BuildFarm.Contracts.Workers;
using BuildFarm.Messaging.Signing;
using BuildFarm.Worker.Configuration;
using BuildFarm.Worker.Keys;
using Microsoft.Extensions.Options;
using Serilog;

namespace BuildFarm.Worker.Control;

/// <summary>
/// Control commands are acted on only when signed by a trusted dispatcher key (the one requests are checked with,
/// <see cref="WorkerKeys.TrustedDispatchers"/>), fresh, and not applied before: anyone who can publish on the broker can
/// otherwise drain, pause or cancel any worker, or replay a genuine command.
/// </summary>
/// <remarks>
/// <para>
/// Fresh: issued within <see cref="FreshnessSection.MaxCommandAge"/> (and at most <see cref="FreshnessSection.ClockSkew"/>
/// ahead) by this worker's clock, or, when that clock disagrees, at most MaxCommandAge before the dispatcher's clock as
/// this worker knows it (<see cref="DispatcherClock"/>, from the dispatcher's earlier signed messages). A worker whose
/// clock is far ahead of the dispatcher's thus still obeys a cancel, drain or pause.
/// </para>
/// <para>
/// Once: each applied command's id (<c>CommandId</c>; a probe's <c>ProbeId</c>; the signature of a command from a
/// dispatcher that sends no id) is remembered in <see cref="AppliedCommands"/> until the command could no longer pass
/// either freshness check, and a second delivery is refused as a replay.
/// </para>
/// </remarks>
internal sealed class CommandVerifier(
    WorkerKeys keys, IOptions<WorkerOptions> options, DispatcherClock dispatcherClock, AppliedCommands applied, TimeProvider time, ILogger logger)
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

    /// <summary>The id a command is remembered by.</summary>
    internal static string IdOf(object command) => command switch
    {
        CancelBuild { CommandId: { } id } => id.ToString("D"),
        DrainWorker { CommandId: { } id } => id.ToString("D"),
        PauseWorker { CommandId: { } id } => id.ToString("D"),
        ResumeWorker { CommandId: { } id } => id.ToString("D"),
        ProbeWorkers p => "probe " + p.ProbeId.ToString("D"),
        _ => "signed " + MessageSignatures.SignatureOf(command),
    };

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
        // Judged against what the worker knew before this command; then the command itself (genuine) is learnt from.
        var dispatcherNow = dispatcherClock.Now();
        dispatcherClock.Observe(at);
        string? stale = null;
        if (at > now + f.ClockSkew)
            stale = $"issued at {at:O}, ahead of this worker's clock by more than Freshness:ClockSkew {f.ClockSkew}";
        else if (now - at > f.MaxCommandAge)
            stale = $"issued at {at:O}, {(now - at).TotalSeconds:0} s ago, beyond Freshness:MaxCommandAge {f.MaxCommandAge} (a replay?)";
        if (stale is not null)
        {
            if (dispatcherNow is not { } d)
                return stale + "; no earlier signed message from the dispatcher tells this worker its clock";
            if (d - at > f.MaxCommandAge)
                return stale + $"; by the dispatcher's clock as this worker knows it ({d:O}) too, {(d - at).TotalSeconds:0} s old";
            logger.Information(
                "{Command} issued at {IssuedAt} judged by the dispatcher's clock ({DispatcherNow}, from its signed messages): this worker's clock ({Now}) is off",
                command.GetType().Name, at, d, now);
        }

        // Remembered until both checks refuse it: MaxCommandAge after the later of its issue time by either clock
        // (the dispatcher's, as known now, is at least `at`).
        var remember = f.MaxCommandAge + TimeSpan.FromSeconds(1) + (at > now ? at - now : TimeSpan.Zero);
        return applied.TryRecord(IdOf(command), remember);
    }
}
