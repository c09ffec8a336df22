using System.Diagnostics;
using BuildFarm.Contracts.Builds;
using BuildFarm.Contracts.Workers;
using BuildFarm.Worker.Configuration;
using BuildFarm.Worker.Events;
using BuildFarm.Worker.Heartbeat;
using BuildFarm.Worker.Keys;
using BuildFarm.Worker.Origins;
using MassTransit;
using Microsoft.Extensions.Options;
using Serilog;

namespace BuildFarm.Worker.Control;

/// <summary>
/// Answers <see cref="ProbeWorkers"/> with <see cref="WorkerProbed"/> after reaching the probe's origin the way a
/// build would: the same <see cref="OriginRegistry"/> checks (pinned host and fingerprint) and pooled SSH session,
/// then the origin's <c>buildfarm --version</c>; the answer is signed with the worker's output key. The command is acked when the answer is published; a worker that
/// dies before that simply does not answer, which the dispatcher reports as "no answer".
/// </summary>
internal sealed class ProbeWorkersConsumer(
    IOptions<WorkerOptions> options,
    OriginRegistry origins,
    WorkerKeys keys,
    CommandVerifier verifier,
    EventPublisher events,
    TimeProvider time,
    ILogger logger) : IConsumer<ProbeWorkers>
{
    /// <summary>Longest origin check: the dispatcher waits for answers only a little longer by default.</summary>
    internal static readonly TimeSpan OriginCheckTimeout = TimeSpan.FromSeconds(10);

    public async Task Consume(ConsumeContext<ProbeWorkers> context)
    {
        var received = time.GetUtcNow();
        var probe = context.Message;
        // A forged probe would make every worker open SSH sessions to the origin it names (pinned ones only, still).
        if (!verifier.Accept(probe, probe.SentAt))
            return;
        var (status, detail) = probe.Origin is null
            ? ("not-asked", "the dispatcher has no origin configured, so none was checked")
            : await CheckOriginAsync(probe.Origin, context.CancellationToken);
        logger.Information("Probe {ProbeId}: origin {OriginStatus} ({OriginDetail})", probe.ProbeId, status, detail);
        var name = options.Value.Name;
        await events.PublishAsync(
            new WorkerProbed(probe.ProbeId, name, HeartbeatService.Version, received, time.GetUtcNow(), status, detail,
                keys.SigningKey.Sign(WorkerProbed.SignedText(probe.ProbeId, name))),
            context.CancellationToken);
    }

    private async Task<(string Status, string Detail)> CheckOriginAsync(OriginEndpoint origin, CancellationToken cancellationToken)
    {
        var where = $"{origin.User}@{origin.Host}:{origin.Port}";
        OriginSession session;
        try
        {
            session = origins.Resolve(origin);
        }
        catch (OriginException e)
        {
            return ("refused", e.Message);
        }

        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(OriginCheckTimeout);
        var clock = Stopwatch.StartNew();
        try
        {
            var answer = (await session.Client.RunAsync(session.Client.BuildfarmCommand("--version"), cts.Token)).Trim();
            return ("reachable", $"{where} answered over SSH in {clock.ElapsedMilliseconds} ms: {origin.RemoteCommand} {answer}");
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return ("unreachable", $"{where} did not answer within {OriginCheckTimeout.TotalSeconds:0} s");
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return ("unreachable", $"{where}: {e.Message}");
        }
    }
}
