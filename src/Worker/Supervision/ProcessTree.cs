using System.Diagnostics;

namespace BuildFarm.Worker.Supervision;

/// <summary>How to kill everything a build started, given the process .NET launched.</summary>
internal abstract class ProcessTree
{
    /// <summary>Kills the whole tree now (timeout, silence, cancellation).</summary>
    public abstract void Kill(Process root);

    /// <summary>Called once the launched process has exited by itself: kills whatever it left behind.</summary>
    public abstract void AfterExit(int rootPid);
}

/// <summary>
/// <c>unshare --pid --fork --kill-child</c>: the launched process is unshare, its only child is the init (PID 1) of
/// the build's PID namespace. SIGKILL to that init makes the kernel kill every process in the namespace, and
/// unshare only exits after reaping it, so once unshare is gone, the whole tree is gone. Killing unshare itself is
/// the fallback: --kill-child then SIGKILLs the init.
/// </summary>
internal sealed class PidNamespaceTree : ProcessTree
{
    public static PidNamespaceTree Instance { get; } = new();

    public override void Kill(Process root)
    {
        foreach (var init in Signals.Children(root.Id))
            Signals.KillProcess(init);
        KillRoot(root);
    }

    public override void AfterExit(int rootPid)
    {
        // Nothing can outlive the namespace's init.
    }

    internal static void KillRoot(Process root)
    {
        try
        {
            root.Kill();
        }
        catch (InvalidOperationException)
        {
            // Already exited.
        }
    }
}

/// <summary>
/// Unsandboxed builds run in their own session (started through <c>setsid</c>, which execs in place, so the launched
/// process's pid is the session and process group of the build); killing the group reaches every descendant that did
/// not start a session of its own. Such a child escapes; only the PID namespace of the real sandbox is airtight.
/// </summary>
internal sealed class ProcessGroupTree : ProcessTree
{
    public static ProcessGroupTree Instance { get; } = new();

    public override void Kill(Process root)
    {
        Signals.KillGroup(root.Id);
        PidNamespaceTree.KillRoot(root);
    }

    public override void AfterExit(int rootPid) => Signals.KillGroup(rootPid);
}
