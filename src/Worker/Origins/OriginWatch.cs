using BuildFarm.Contracts.Builds;
using BuildFarm.Transfer.Errors;
using BuildFarm.Worker.Lifecycle;
using Serilog;

namespace BuildFarm.Worker.Origins;

/// <summary>
/// Keeps a worker that cannot reach its origin from taking builds it would only fail: every build pulls from and
/// returns to an origin, so after a build failed for want of it (the retry budget spent), the worker asks the origin
/// once more; when that fails too it pauses itself (<see cref="SelfPauseKind.OriginUnreachable"/>) and asks again
/// every <see cref="RetryInterval"/> until the origin answers. Without this, the dispatcher's retry of the failed
/// build could come straight back here and spend the build's last attempts on a cut link.
/// One watch at a time: a farm has one origin (a second unreachable origin waits for the first watch to end).
/// </summary>
internal sealed class OriginWatch(OriginRegistry origins, WorkerState state, TimeProvider time, ILogger logger) : IDisposable
{
    internal static readonly TimeSpan RetryInterval = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(10);
    private readonly ILogger _log = logger.ForContext<OriginWatch>();
    private readonly CancellationTokenSource _stopping = new();

    /// <summary>After a build failed on the infrastructure: pauses the worker (and starts the watch) when the origin does not answer now.</summary>
    public async Task AfterFailureAsync(OriginEndpoint origin, CancellationToken cancellationToken)
    {
        if (state.IsSelfPaused(SelfPauseKind.OriginUnreachable) || await ProbeAsync(origin, cancellationToken) is not { } problem)
            return;
        var where = $"{origin.User}@{origin.Host}:{origin.Port}";
        if (!state.PauseItself(SelfPauseKind.OriginUnreachable, $"origin {where} unreachable: {problem}"))
            return;
        _log.Warning("Stopped claiming builds: origin {Origin} does not answer ({Problem}); asking it again every {Interval}", where, problem, RetryInterval);
        _ = Task.Run(() => WatchAsync(origin, where), CancellationToken.None);
    }

    public void Dispose()
    {
        _stopping.Cancel();
        _stopping.Dispose();
    }

    private async Task WatchAsync(OriginEndpoint origin, string where)
    {
        var token = _stopping.Token;
        try
        {
            while (true)
            {
                await Task.Delay(RetryInterval, time, token);
                if (await ProbeAsync(origin, token) is null)
                {
                    state.ResumeItself(SelfPauseKind.OriginUnreachable);
                    _log.Information("Claiming builds again: origin {Origin} answers", where);
                    return;
                }
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
        }
    }

    /// <summary>
    /// Why the origin is unreachable over the network (no answer to <c>buildfarm --version</c> over the worker's pooled
    /// SSH session within the client's retry budget), or null when it answered or failed for another reason.
    /// </summary>
    private async Task<string?> ProbeAsync(OriginEndpoint origin, CancellationToken cancellationToken)
    {
        OriginSession session;
        try
        {
            session = origins.Resolve(origin);
        }
        catch (OriginException)
        {
            // Refused by this worker's own config: not a network matter, nothing a pause would fix.
            return null;
        }

        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(ProbeTimeout);
        try
        {
            await session.Client.RunAsync(session.Client.BuildfarmCommand("--version"), cts.Token);
            return null;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return $"no answer within {ProbeTimeout.TotalSeconds:0} s";
        }
        catch (TransferInfrastructureException e)
        {
            // The network or the server's availability, after the client's own retries (or its open circuit).
            return e.Message;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // A host key that is not the pinned one, a refused login, a failing command: no pause brings the origin
            // back, and each build that needs it reports the reason itself.
            return null;
        }
    }
}
