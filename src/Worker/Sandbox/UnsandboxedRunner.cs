using System.Diagnostics;

namespace BuildFarm.Worker.Sandbox;

/// <summary>
/// Runs the builder as a plain process in its own session, for machines where the operator explicitly allowed
/// unsandboxed builds. Same environment, log, timeout and kill semantics as <see cref="SandboxRunner"/>, but: the
/// network is not isolated, the logical store directory must be the physical one, and a child that starts its own
/// session escapes the kill.
/// </summary>
public sealed class UnsandboxedRunner(SandboxTools? tools = null, TimeProvider? time = null) : IBuildRunner
{
    private readonly SandboxTools _tools = tools ?? SandboxTools.Default;
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    public Task<SandboxResult> RunAsync(SandboxSpec spec, Func<ReadOnlyMemory<byte>, CancellationToken, ValueTask> onLog, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(onLog);
        if (SpecValidation.Problem(spec) is { } problem)
            return Task.FromResult(new SandboxResult(SandboxOutcome.Rejected, null, problem, TimeSpan.Zero, 0));
        if (Path.TrimEndingDirectorySeparator(spec.LogicalStoreDir) != Path.TrimEndingDirectorySeparator(spec.PhysicalStoreDir))
        {
            return Task.FromResult(new SandboxResult(SandboxOutcome.SetupFailed, null,
                $"unsandboxed builds cannot show the store {spec.PhysicalStoreDir} at {spec.LogicalStoreDir}; this worker needs the sandbox or a store at the logical path",
                TimeSpan.Zero, 0));
        }

        // busybox setsid execs in place (a process .NET starts is never a group leader), so the pid we see is the
        // session and process group of the whole build.
        var psi = new ProcessStartInfo(_tools.Busybox) { WorkingDirectory = "/" };
        psi.Environment.Clear();
        string[] script = ["setsid", _tools.Busybox, "sh", "-c", SandboxScript.Unsandboxed, "buildfarm-unsandboxed", spec.BuildDir];
        foreach (var a in script.Concat(SpecValidation.ExecArgs(spec, _tools.Busybox)))
            psi.ArgumentList.Add(a);
        return BuildSupervisor.RunAsync(psi, spec, ProcessGroupTree.Instance, onLog, _time, cancellationToken);
    }
}
