namespace BuildFarm.Worker.Sandbox;

/// <summary>
/// Host programs the sandbox relies on. util-linux <c>unshare</c> creates the namespaces; a static busybox runs the
/// setup inside them (mount, ip, env) so nothing there depends on the host's dynamic libraries.
/// </summary>
public sealed record SandboxTools(string Unshare = "/usr/bin/unshare", string Busybox = "/bin/busybox")
{
    public static SandboxTools Default { get; } = new();
}
