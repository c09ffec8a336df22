using System.Runtime.InteropServices;

namespace BuildFarm.Worker.Supervision;

/// <summary>kill(2), for process groups and pids .NET does not own: the worker's only wrapper of it.</summary>
internal static class Signals
{
    private const int SigKill = 9;

    /// <summary>SIGKILL to one process; false if it no longer exists.</summary>
    public static bool KillProcess(int pid) => pid > 1 && NativeKill(pid, SigKill) == 0;

    /// <summary>SIGKILL to every member of a process group; false if the group is empty.</summary>
    public static bool KillGroup(int pgid) => pgid > 1 && NativeKill(-pgid, SigKill) == 0;

    /// <summary>Direct children of <paramref name="pid"/> (from /proc; empty if it is gone).</summary>
    public static IReadOnlyList<int> Children(int pid)
    {
        try
        {
            var text = File.ReadAllText($"/proc/{pid}/task/{pid}/children");
            return [.. text.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse)];
        }
        catch (IOException)
        {
            return [];
        }
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
#pragma warning disable SYSLIB1054 // LibraryImport would need unsafe code for the whole project; kill(2) takes two ints.
    private static extern int NativeKill(int pid, int signal);
#pragma warning restore SYSLIB1054
}
