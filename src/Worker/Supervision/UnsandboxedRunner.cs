using System.Diagnostics;

namespace BuildFarm.Worker.Supervision;

/// <summary>
/// Runs the builder directly on this machine, without a sandbox, for workers whose operator set
/// <c>AllowUnsandboxed</c>: <c>setsid BUILDER ARGS…</c> in the build directory with exactly the spec's environment,
/// under the same <see cref="BuilderSupervisor"/> (log, timeout, max-silent-time, kill) as the sandbox. The builder
/// sees the host's filesystem: the store at its physical directory (outputs are written at their physical paths) and
/// the host's network; a child that starts its own session escapes the kill.
/// </summary>
public sealed class UnsandboxedRunner(TimeProvider? time = null) : IBuilderRunner
{
    /// <summary>util-linux setsid: execs in place (a process .NET starts is never a group leader), so the pid we
    /// see is the session and process group of the whole build.</summary>
    public const string Setsid = "/usr/bin/setsid";

    private readonly TimeProvider _time = time ?? TimeProvider.System;

    public bool SeesLogicalStore => false;

    public Task<BuilderResult> RunAsync(BuilderSpec spec, Func<ReadOnlyMemory<byte>, CancellationToken, ValueTask> onLog, CancellationToken cancellationToken)
    {
        if (SpecValidation.Rejection(spec, onLog) is { } rejected)
            return rejected;

        // env --default-signal first: .NET ignores SIGPIPE and an ignored signal survives exec (Nix's builders get the
        // default). The first word without '=' ends env's assignments, so setsid is never mistaken for one.
        var psi = new ProcessStartInfo("/usr/bin/env") { WorkingDirectory = spec.BuildDir };
        psi.ArgumentList.Add("--default-signal");
        psi.ArgumentList.Add(Setsid);
        psi.ArgumentList.Add(spec.Builder);
        foreach (var a in spec.Args)
            psi.ArgumentList.Add(a);
        psi.Environment.Clear();
        foreach (var (name, value) in spec.Env)
            psi.Environment[name] = value;
        return BuilderSupervisor.RunAsync(psi, ProcessGroupTree.Instance, StderrRole.BuilderLog, spec, onLog, _time, cancellationToken);
    }
}
