using System.Runtime.InteropServices;

namespace BuildFarm.Worker.Sandbox;

/// <summary>lchown(2) over trees, never following symlinks: hands a build's directories to its build user and takes its outputs back.</summary>
internal static class Ownership
{
    /// <summary>
    /// Changes the owner of <paramref name="path"/> and everything under it (symlinks themselves, not their targets).
    /// Giving a tree away goes bottom-up (the worker reads each directory while it is still its own); taking one
    /// back goes top-down, opening each directory to the worker (u+rwx) before reading it, so a build's mode-000
    /// directory never stops a worker that holds CAP_CHOWN but not CAP_DAC_OVERRIDE.
    /// </summary>
    public static void ChangeTree(string path, long uid, long gid)
    {
        var info = new DirectoryInfo(path);
        var directory = info.LinkTarget is null && info.Exists;
        var takingBack = uid == WorkerUid;
        if (takingBack || !directory)
            Change(path, uid, gid);
        if (!directory)
            return;
        if (takingBack)
            info.UnixFileMode |= UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
        foreach (var entry in info.EnumerateFileSystemInfos())
        {
            if (entry is DirectoryInfo && entry.LinkTarget is null)
                ChangeTree(entry.FullName, uid, gid);
            else
                Change(entry.FullName, uid, gid);
        }

        if (!takingBack)
            Change(path, uid, gid);
    }

    /// <summary>The worker's effective uid and gid: owners of everything in its store.</summary>
    public static long WorkerUid { get; } = NativeGeteuid();

    public static long WorkerGid { get; } = NativeGetegid();

    public static void Change(string path, long uid, long gid)
    {
        if (NativeLchown(path, (uint)uid, (uint)gid) != 0)
            throw new IOException($"cannot change the owner of {path} to {uid}:{gid}: errno {Marshal.GetLastPInvokeError()}");
    }

    [DllImport("libc", EntryPoint = "geteuid")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
#pragma warning disable SYSLIB1054
    private static extern uint NativeGeteuid();

    [DllImport("libc", EntryPoint = "getegid")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern uint NativeGetegid();
#pragma warning restore SYSLIB1054

    [DllImport("libc", EntryPoint = "lchown", SetLastError = true, CharSet = CharSet.Ansi, BestFitMapping = false, ThrowOnUnmappableChar = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
#pragma warning disable SYSLIB1054 // LibraryImport would need unsafe code for the whole project.
    private static extern int NativeLchown(string path, uint owner, uint group);
#pragma warning restore SYSLIB1054
}
