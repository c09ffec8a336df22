using BuildFarm.Worker.Configuration;

namespace BuildFarm.Worker.Cli;

/// <summary>
/// The origin part of <c>buildfarm-worker check</c>: the SSH client key, the pinned host keys and the trusted input
/// keys readable; with <c>--ssh</c>, a login to every pinned origin. Filled in when the worker's <c>Origins</c>
/// section exists (offload); until then there is nothing to check.
/// </summary>
internal static class OriginChecks
{
    public static void Files(WorkerOptions options, CheckReport report)
    {
        _ = options;
        _ = report;
    }

    public static Task ReachableAsync(WorkerOptions options, TimeSpan timeout, CheckReport report, CancellationToken cancellationToken)
    {
        _ = (options, timeout, cancellationToken);
        report.Warn("origin ssh", "this worker has no Origins section to check");
        return Task.CompletedTask;
    }
}
