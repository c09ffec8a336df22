namespace BuildFarm.Worker.Sandbox;

/// <summary>
/// Runs one builder. The log callback receives the builder's stdout and stderr, merged into one stream in the order
/// the builder wrote them; a chunk's memory is only valid during the call (copy it to keep it). Returns only when
/// every process of the build is gone; cancelling the token kills the tree and
/// yields <see cref="SandboxOutcome.Cancelled"/> rather than throwing.
/// </summary>
public interface IBuildRunner
{
    Task<SandboxResult> RunAsync(
        SandboxSpec spec,
        Func<ReadOnlyMemory<byte>, CancellationToken, ValueTask> onLog,
        CancellationToken cancellationToken);
}
