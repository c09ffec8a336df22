using System.Diagnostics;
using BuildFarm.Worker.Supervision;

namespace BuildFarm.Worker.Sandbox;

/// <summary>
/// Runs each builder in fresh Linux namespaces made by util-linux <c>unshare</c> (needs root or CAP_SYS_ADMIN; see
/// <see cref="ProbeAsync"/>):
/// <list type="bullet">
/// <item>mount: private (nothing propagates to the host), the physical store bind-mounted at the logical store
/// directory, a namespace-local /proc. This is not a chroot: the rest of the host's filesystem stays visible.</item>
/// <item>PID: the builder tree cannot outlive the build; killing the namespace's init kills all of it.</item>
/// <item>network (unless <see cref="BuilderSpec.AllowNetwork"/>): only loopback, up.</item>
/// </list>
/// The build directory is seen at its host path (as Nix without its own sandbox does), so the caller computes
/// NIX_BUILD_TOP/TMPDIR/PWD from <see cref="BuilderSpec.BuildDir"/>.
/// </summary>
public sealed class SandboxRunner(SandboxTools? tools = null, TimeProvider? time = null) : IBuilderRunner
{
    private readonly SandboxTools _tools = tools ?? SandboxTools.Default;
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    public bool SeesLogicalStore => true;

    public Task<BuilderResult> RunAsync(BuilderSpec spec, Func<ReadOnlyMemory<byte>, CancellationToken, ValueTask> onLog, CancellationToken cancellationToken)
    {
        if (SpecValidation.Rejection(spec, onLog) is { } rejected)
            return rejected;

        // The unshare process gets an empty environment: the builder's variables (LD_PRELOAD…) must not reach host
        // tools; env -i hands them to the builder alone.
        var psi = new ProcessStartInfo(_tools.Unshare) { WorkingDirectory = "/" };
        psi.Environment.Clear();
        string[] namespaces = ["--mount", "--pid", "--fork", "--kill-child", "--propagation", "private", "--mount-proc"];
        foreach (var a in namespaces)
            psi.ArgumentList.Add(a);
        if (!spec.AllowNetwork)
            psi.ArgumentList.Add("--net");
        string[] script =
        [
            "--", _tools.Busybox, "sh", "-c", SandboxScript.Sandboxed, "buildfarm-sandbox",
            _tools.Busybox, spec.PhysicalStoreDir, spec.LogicalStoreDir, spec.BuildDir, spec.AllowNetwork ? "0" : "1",
        ];
        foreach (var a in script.Concat(SandboxScript.ExecArgs(spec, _tools.Busybox)))
            psi.ArgumentList.Add(a);
        return BuilderSupervisor.RunAsync(psi, PidNamespaceTree.Instance, StderrRole.SetupDiagnostics, spec, onLog, _time, cancellationToken);
    }

    /// <summary>
    /// Whether this machine can run sandboxed builds: runs a real one (bind mount, loopback-only network, PID
    /// namespace) and reports why not. When <paramref name="logicalStoreDir"/> is given, it must also exist.
    /// </summary>
    public static Task<SandboxCapability> ProbeAsync(SandboxTools? tools = null, string? logicalStoreDir = null, CancellationToken cancellationToken = default) =>
        SandboxProbe.RunAsync(tools ?? SandboxTools.Default, logicalStoreDir, cancellationToken);
}
