using BuildFarm.Contracts.Builds;

namespace BuildFarm.Contracts.Workers;

/// <summary>
/// Command (to every live worker, like <c>guix offload test</c>): answer with <see cref="WorkerProbed"/>. With an
/// <paramref name="Origin"/>, first reach that origin over SSH exactly as a build's input fetch would (the worker's
/// pins, key and remote command), so the answer says whether builds could pull inputs and return outputs.
/// </summary>
/// <param name="ProbeId">Names this round of probes; every answer carries it.</param>
/// <param name="Origin">The origin builds are sent with, or null when the dispatcher has none.</param>
/// <param name="SentAt">The dispatcher's clock at publish: with the answer's times it gives the clock offset; also its signed issue time.</param>
/// <param name="Signature">The dispatcher's <c>keyname:base64</c> signature over the command's canonical text (contract version 2).</param>
public sealed record ProbeWorkers(Guid ProbeId, OriginEndpoint? Origin, DateTimeOffset SentAt, string? Signature = null);

/// <summary>Event: one worker's answer to <see cref="ProbeWorkers"/>.</summary>
/// <param name="ProbeId">The probe answered.</param>
/// <param name="WorkerName">Who answers.</param>
/// <param name="Version">The worker's informational version.</param>
/// <param name="ReceivedAt">The worker's clock when the probe arrived.</param>
/// <param name="AnsweredAt">The worker's clock when it answered (after the origin check).</param>
/// <param name="OriginStatus">
/// <c>reachable</c> (SSH session opened and the origin's buildfarm answered), <c>unreachable</c> (connection,
/// authentication or command failed), <c>refused</c> (this worker's config does not pin that origin or fingerprint)
/// or <c>not-asked</c> (the probe named no origin).
/// </param>
/// <param name="OriginDetail">What was tried and what came back, for an operator.</param>
/// <param name="Signature">
/// <c>name:base64</c> Ed25519 signature by the worker's output-signing key over <see cref="SignedText"/>, so the
/// dispatcher can tell whether it trusts the key before the worker has built anything.
/// </param>
public sealed record WorkerProbed(
    Guid ProbeId,
    string WorkerName,
    string Version,
    DateTimeOffset ReceivedAt,
    DateTimeOffset AnsweredAt,
    string OriginStatus,
    string OriginDetail,
    string? Signature = null)
{
    /// <summary>
    /// What <see cref="Signature"/> signs: the probe and the worker's name. Its prefix keeps it apart from Nix's narinfo
    /// fingerprint (<c>1;path;…</c>), so a probe answer can never stand in for a store path's signature.
    /// </summary>
    public static string SignedText(Guid probeId, string workerName) => $"buildfarm-probe;{probeId:D};{workerName}";
}
