using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace BuildFarm.Worker.Sandbox;

/// <summary>
/// The mount system calls <see cref="StoreView"/> makes, old (<c>mount</c>) and new (<c>fsopen</c>, <c>fsmount</c>,
/// <c>mount_setattr</c>, Linux 5.2–5.12), each throwing an <see cref="IOException"/> that says what failed and its errno.
/// The new calls have the same numbers on every architecture.
/// </summary>
internal static class MountCalls
{
    public const int CloneNewNs = 0x00020000;
    public const ulong MsRdOnly = 1, MsNoSuid = 2, MsNoDev = 4, MsNoExec = 8, MsRemount = 32, MsBind = 4096, MsRec = 16384, MsPrivate = 1 << 18;
    public const ulong AttrRdOnly = 1, AttrNoSuid = 2, AttrNoDev = 4;

    private const int ReadOnlyCloseOnExec = 0x80000;
    private const long SysFsopen = 430, SysFsconfig = 431, SysFsmount = 432, SysMountSetattr = 442;
    private const uint FsopenCloseOnExec = 1, FsmountCloseOnExec = 1, FsconfigSetString = 1, FsconfigCmdCreate = 6;
    private const uint AtRecursive = 0x8000;
    private const uint RegularFile = 0x8000;
    private const int AtFdCwd = -100;

    public static int Errno => Marshal.GetLastPInvokeError();

    public static SafeFileHandle Open(string path)
    {
        var fd = NativeOpen(path, ReadOnlyCloseOnExec);
        return fd >= 0 ? new SafeFileHandle(fd, ownsHandle: true) : throw new IOException($"cannot open {path}: errno {Errno}");
    }

    public static void Mount(string? source, string target, string? type, ulong flags, string? data, string what)
    {
        if (NativeMount(source, target, type, flags, data) != 0)
            throw new IOException($"cannot {what}: errno {Errno}");
    }

    // syscall(2) returns a long, which is nint on the 64-bit machines the launcher (and so this) runs on.

    /// <summary>A new tmpfs, mounted nowhere yet (a detached mount): its root directory's descriptor.</summary>
    public static SafeFileHandle NewTmpfs(string mode)
    {
        var context = NativeFsopen(SysFsopen, "tmpfs", FsopenCloseOnExec);
        if (context < 0)
            throw new IOException($"cannot open a tmpfs context: errno {Errno}");
        using var contextHandle = new SafeFileHandle(context, ownsHandle: true);
        var fd = contextHandle.DangerousGetHandle().ToInt32();
        if (NativeFsconfig(SysFsconfig, fd, FsconfigSetString, "mode", mode, 0) < 0)
            throw new IOException($"cannot set the tmpfs's mode: errno {Errno}");
        if (NativeFsconfig(SysFsconfig, fd, FsconfigCmdCreate, null, null, 0) < 0)
            throw new IOException($"cannot create a tmpfs: errno {Errno}");
        var mount = NativeFsmount(SysFsmount, fd, FsmountCloseOnExec, (uint)(AttrNoSuid | AttrNoDev));
        return mount >= 0 ? new SafeFileHandle(mount, ownsHandle: true) : throw new IOException($"cannot mount a tmpfs: errno {Errno}");
    }

    /// <summary>
    /// Sets and clears mount attributes (<c>MOUNT_ATTR_*</c>) of the mount at <paramref name="path"/> and, with
    /// <paramref name="recursive"/>, of every mount below it, in one call.
    /// </summary>
    public static void SetAttributes(string path, bool recursive, ulong set, ulong clear, string what)
    {
        var attributes = new MountAttributes { Set = set, Clear = clear };
        if (NativeMountSetattr(SysMountSetattr, -100, path, recursive ? AtRecursive : 0, ref attributes, (nuint)Marshal.SizeOf<MountAttributes>()) != 0)
            throw new IOException($"cannot {what}: errno {Errno}");
    }

    /// <summary>
    /// An empty file to mount a file on, readable by everyone and writable by no one (an error if it exists). Made
    /// with <c>mknod</c>, never opened: a file open for writing counts as a writer on its mount, and a process another
    /// thread forks at that moment holds a copy of the descriptor until its exec, so the sandbox root's read-only
    /// remount right after could fail with EBUSY (seen once in CI under load: "cannot make the sandbox's root
    /// read-only: errno 16").
    /// </summary>
    public static void MakeFile(string path) =>
        MakeFile(AtFdCwd, path, UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead);

    public static void MakeDirectory(SafeFileHandle parent, string name, UnixFileMode mode)
    {
        if (NativeMkdirat(parent.DangerousGetHandle().ToInt32(), name, (uint)mode) != 0)
            throw new IOException($"cannot make the mount point {name}: errno {Errno}");
    }

    public static void MakeFile(SafeFileHandle parent, string name, UnixFileMode mode) =>
        MakeFile(parent.DangerousGetHandle().ToInt32(), name, mode);

    private static void MakeFile(int dirFd, string name, UnixFileMode mode)
    {
        if (NativeMknodat(dirFd, name, RegularFile | (uint)mode, 0) != 0)
            throw new IOException($"cannot make the mount point {name}: errno {Errno}");
    }

    public static void MakeSymlink(SafeFileHandle parent, string name, string target)
    {
        if (NativeSymlinkat(target, parent.DangerousGetHandle().ToInt32(), name) != 0)
            throw new IOException($"cannot make the symlink {name}: errno {Errno}");
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct MountAttributes
    {
        public ulong Set;
        public ulong Clear;
        public ulong Propagation;
        public ulong UserNamespaceFd;
    }

#pragma warning disable SYSLIB1054 // LibraryImport would need unsafe code for the whole project.
    [DllImport("libc", EntryPoint = "unshare", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    public static extern int Unshare(int flags);

    [DllImport("libc", EntryPoint = "setns", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    public static extern int Setns(int fd, int nstype);

    [DllImport("libc", EntryPoint = "open", SetLastError = true, CharSet = CharSet.Ansi, BestFitMapping = false, ThrowOnUnmappableChar = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int NativeOpen(string path, int flags);

    [DllImport("libc", EntryPoint = "mount", SetLastError = true, CharSet = CharSet.Ansi, BestFitMapping = false, ThrowOnUnmappableChar = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int NativeMount(string? source, string target, string? type, ulong flags, string? data);

    [DllImport("libc", EntryPoint = "syscall", SetLastError = true, CharSet = CharSet.Ansi, BestFitMapping = false, ThrowOnUnmappableChar = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern nint NativeFsopen(long number, string fsName, uint flags);

    [DllImport("libc", EntryPoint = "syscall", SetLastError = true, CharSet = CharSet.Ansi, BestFitMapping = false, ThrowOnUnmappableChar = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern long NativeFsconfig(long number, int fd, uint command, string? key, string? value, int aux);

    [DllImport("libc", EntryPoint = "syscall", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern nint NativeFsmount(long number, int fd, uint flags, uint attributes);

    [DllImport("libc", EntryPoint = "syscall", SetLastError = true, CharSet = CharSet.Ansi, BestFitMapping = false, ThrowOnUnmappableChar = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern long NativeMountSetattr(long number, int dirFd, string path, uint flags, ref MountAttributes attributes, nuint size);

    [DllImport("libc", EntryPoint = "mkdirat", SetLastError = true, CharSet = CharSet.Ansi, BestFitMapping = false, ThrowOnUnmappableChar = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int NativeMkdirat(int dirFd, string name, uint mode);

    [DllImport("libc", EntryPoint = "mknodat", SetLastError = true, CharSet = CharSet.Ansi, BestFitMapping = false, ThrowOnUnmappableChar = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int NativeMknodat(int dirFd, string name, uint mode, ulong device);

    [DllImport("libc", EntryPoint = "symlinkat", SetLastError = true, CharSet = CharSet.Ansi, BestFitMapping = false, ThrowOnUnmappableChar = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int NativeSymlinkat(string target, int dirFd, string name);
#pragma warning restore SYSLIB1054
}
