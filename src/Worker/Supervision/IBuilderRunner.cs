namespace BuildFarm.Worker.Supervision;

/// <summary>
/// Runs one builder process (not to be confused with the attempt around it, <c>Execution.AttemptRunner</c>): the
/// sandboxed <see cref="Sandbox.SandboxRunner"/> or the <see cref="UnsandboxedRunner"/>, both over
/// <see cref="BuilderSupervisor"/>. The log callback receives the builder's stdout and stderr (the sandbox merges them
/// in the order the builder wrote them; unsandboxed, each pipe delivers whole lines); calls never overlap, and a
/// chunk's memory is only valid during the call (copy it to keep it). Returns only when every process of the build is
/// gone; cancelling the token kills the tree and yields <see cref="BuilderOutcome.Cancelled"/> rather than throwing.
/// </summary>
public interface IBuilderRunner
{
    /// <summary>
    /// True when the builder sees the physical store at <see cref="BuilderSpec.LogicalStoreDir"/> (outputs are named by
    /// their logical paths); false when it sees the host's filesystem (outputs are named by their physical paths).
    /// </summary>
    bool SeesLogicalStore { get; }

    Task<BuilderResult> RunAsync(
        BuilderSpec spec,
        Func<ReadOnlyMemory<byte>, CancellationToken, ValueTask> onLog,
        CancellationToken cancellationToken);
}
