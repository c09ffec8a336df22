using System.Runtime.InteropServices;

namespace BuildFarm.Worker.Execution;

/// <summary>
/// The builder runs as the leader of its own session and process group (started through <c>setsid</c>, which
/// execs in place, so the group id is the builder's pid); killing the group reaches every descendant that did
/// not start a session of its own.
/// </summary>
internal static class ProcessGroup
{
    public const string Setsid = "/usr/bin/setsid";
    private const int SigKill = 9;

    /// <summary>SIGKILL to every process of the group; false when none was left.</summary>
    public static bool Kill(int processGroupId) => processGroupId > 1 && NativeKill(-processGroupId, SigKill) == 0;

    /// <summary>True while any process of the group exists (signal 0 probes without delivering).</summary>
    public static bool Exists(int processGroupId) => processGroupId > 1 && NativeKill(-processGroupId, 0) == 0;

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
#pragma warning disable SYSLIB1054 // LibraryImport would need unsafe code for the whole project; kill(2) takes two ints.
    private static extern int NativeKill(int pid, int signal);
#pragma warning restore SYSLIB1054
}
