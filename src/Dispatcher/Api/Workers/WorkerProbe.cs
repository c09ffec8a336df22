using BuildFarm.Contracts.Workers;
using BuildFarm.Dispatcher.Lifecycle;
using BuildFarm.Dispatcher.Submission;
using BuildFarm.Store.Signing;
using Microsoft.Extensions.Configuration;

namespace BuildFarm.Dispatcher.Api;

/// <summary>
/// <c>GET /api/workers/probe</c>, the data of <c>buildfarm probe</c> (like <c>guix offload test</c>): per known worker
/// its heartbeat age, version, whether the outputs it signed verify with <c>Dispatcher:TrustedWorkerKeysFile</c> and,
/// with a live probe (a wait above zero), whether it answers over the broker, its clock offset and
/// whether it reaches the origin over SSH as a build would (<see cref="ProbeWorkers"/> to every worker, answers
/// collected until all online workers answered or the wait ran out).
/// </summary>
internal sealed class WorkerProbe(
    LifecycleDatabase db,
    WorkerViews views,
    TimeProvider time,
    IConfiguration configuration,
    IWorkerControl control,
    ProbeReplies replies,
    BuildSubmitter submitter)
{
    public const string TrustedKeysKey = "Dispatcher:TrustedWorkerKeysFile";

    public async Task<ProbeView> ProbeAsync(TimeSpan wait, CancellationToken cancellationToken)
    {
        var workers = await views.ListAsync(cancellationToken);
        var origin = submitter.Origin;
        var answers = new Dictionary<string, ProbeReplies.Answer>();
        var sentAt = time.GetUtcNow();
        if (wait > TimeSpan.Zero)
        {
            var probe = new ProbeWorkers(Guid.NewGuid(), origin, sentAt);
            using var round = replies.Open(probe.ProbeId);
            await control.ProbeAsync(probe, cancellationToken);
            await round.WaitForAsync(workers.Where(w => w.Online).Select(w => w.Name).ToList(), wait, time, cancellationToken);
            answers = round.Answers.ToDictionary();
        }

        var now = time.GetUtcNow();
        var clocks = await db.RunAsync(WorkerClockTable.ByWorkerAsync, cancellationToken);
        var keysFile = configuration[TrustedKeysKey] is { Length: > 0 } f ? f : null;
        TrustedKeys? trusted = null;
        string? keysError = null;
        if (keysFile is not null)
        {
            try
            {
                trusted = await TrustedKeys.LoadAsync(keysFile, cancellationToken);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
            {
                keysError = $"{TrustedKeysKey} {keysFile}: {e.Message}";
            }
        }

        var probes = new List<WorkerProbeView>();
        foreach (var w in workers)
        {
            var (status, detail) = await KeyStatusAsync(w.Name, trusted, keysFile, keysError, cancellationToken);
            double? skew = clocks.TryGetValue(w.Name, out var clock) ? Math.Round(clock.Skew.TotalSeconds, 3) : null;
            var state = w.Online ? "online" : w.State == WorkerTable.Offline ? "offline" : "dead";
            var view = new WorkerProbeView(w.Name, w.Online, state, w.LastSeen, Math.Round((now - w.LastSeen).TotalSeconds, 1), skew, w.Version,
                status, detail, "unknown", "not probed: ask with ?wait=SECONDS (buildfarm probe does)");
            if (answers.TryGetValue(w.Name, out var answer))
                view = WithKey(WithAnswer(view, answer, sentAt), answer.Probed, trusted, keysFile, keysError);
            else if (wait > TimeSpan.Zero)
                view = view with { Answered = false, OriginDetail = w.Online ? $"no answer to the probe within {wait.TotalSeconds:0.#} s" : $"not probed: {state}" };
            probes.Add(view);
        }

        return new ProbeView(now, keysFile, probes, wait.TotalSeconds, origin is null ? null : $"{origin.User}@{origin.Host}:{origin.Port}");
    }

    /// <summary>
    /// The four timestamps of a probe give clock offset and round trip as NTP computes them: the worker's receive and
    /// answer times against the dispatcher's send and arrival times, so the time spent checking the origin cancels out.
    /// </summary>
    private static WorkerProbeView WithAnswer(WorkerProbeView view, ProbeReplies.Answer answer, DateTimeOffset sentAt)
    {
        var p = answer.Probed;
        var offset = ((p.ReceivedAt - sentAt) + (p.AnsweredAt - answer.ArrivedAt)) / 2;
        var roundTrip = (answer.ArrivedAt - sentAt) - (p.AnsweredAt - p.ReceivedAt);
        return view with
        {
            Answered = true,
            RoundTripMs = Math.Round(Math.Max(0, roundTrip.TotalMilliseconds), 1),
            ClockSkewSeconds = Math.Round(offset.TotalSeconds, 3),
            Version = p.Version,
            OriginReachable = p.OriginStatus,
            OriginDetail = p.OriginDetail,
        };
    }

    /// <summary>
    /// A signed answer decides the key status live (even for a worker that has built nothing yet); without trusted keys
    /// configured it still names the key the worker signs with.
    /// </summary>
    private static WorkerProbeView WithKey(WorkerProbeView view, WorkerProbed answer, TrustedKeys? trusted, string? keysFile, string? keysError)
    {
        if (answer.Signature is not { } signature || keysError is not null)
            return view;
        var signer = signature.Split(':')[0];
        if (keysFile is null)
            return view with { KeyStatus = "not-checked", KeyDetail = $"no {TrustedKeysKey} configured; it signs with '{signer}'" };
        var check = trusted!.VerifyAny(WorkerProbed.SignedText(answer.ProbeId, answer.WorkerName), [signature]);
        return check.IsValid
            ? view with { KeyStatus = "trusted", KeyDetail = $"probe answer {check.Reason}" }
            : view with { KeyStatus = "untrusted", KeyDetail = $"probe answer: {check.Reason}" };
    }

    /// <summary>Checks the signatures on the worker's most recent successful output against the trusted worker keys.</summary>
    private async Task<(string Status, string Detail)> KeyStatusAsync(string worker, TrustedKeys? trusted, string? keysFile, string? keysError, CancellationToken cancellationToken)
    {
        var output = await db.RunAsync(s => OutputTable.LatestOfWorkerAsync(s, worker), cancellationToken);
        var signer = output?.Signatures is { Count: > 0 } sigs ? string.Join(", ", sigs.Select(x => x.Split(':')[0]).Distinct()) : null;
        if (keysError is not null)
            return ("unknown", keysError);
        if (keysFile is null)
            return ("not-checked", $"no {TrustedKeysKey} configured" + (signer is null ? "" : $"; its outputs are signed by '{signer}'"));
        if (output is null)
            return ("unknown", "no successful build of this worker yet to check its signature on");
        // The narinfo fingerprint Nix signs: 1;path;narHash;narSize;sorted refs.
        var fingerprint = $"1;{output.Path};{output.NarHash};{output.NarSize.ToString(System.Globalization.CultureInfo.InvariantCulture)};{string.Join(',', output.References.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal))}";
        var check = trusted!.VerifyAny(fingerprint, output.Signatures);
        return check.IsValid ? ("trusted", $"{output.Path}: {check.Reason}") : ("untrusted", $"{output.Path}: {check.Reason}");
    }
}
