using System.Runtime.InteropServices;

namespace BuildFarm.Store.Nar;

/// <summary>
/// The few Linux calls <see cref="NarSerializer"/> walks a tree with: everything relative to an open directory
/// (no path resolved twice, no name converted to a .NET string), names passed as NUL-terminated UTF-8 bytes.
/// <c>statx</c> and <c>getdents64</c> have the same layout on every architecture.
/// </summary>
internal static class NarSyscalls
{
    public const int AtFdCwd = -100;
    public const int AtSymlinkNoFollow = 0x100;
    public const int AtEmptyPath = 0x1000;

    public const int ORdOnly = 0;
    public const int ONonBlock = 0x800;
    public const int ODirectory = 0x10000;
    public const int ONoFollow = 0x20000;
    public const int OCloExec = 0x80000;

    public const uint StatxType = 0x1;
    public const uint StatxMode = 0x2;
    public const uint StatxSize = 0x200;

    /// <summary>Offsets in <c>struct statx</c>.</summary>
    public const int StatxModeOffset = 28;
    public const int StatxSizeOffset = 40;
    public const int StatxBufferSize = 256;

    public const int EIntr = 4;
    public const int ENoEnt = 2;
    public const int ENotDir = 20;
    public const int ELoop = 40;
    public const int EPerm = 1;
    public const int EAcces = 13;

    /// <summary><c>d_type</c> values of a directory entry.</summary>
    public const byte DtUnknown = 0;
    public const byte DtDirectory = 4;
    public const byte DtRegular = 8;
    public const byte DtSymlink = 10;

    /// <summary>The file-type bits of a mode.</summary>
    public const int SIfMt = 0xF000;
    public const int SIfReg = 0x8000;
    public const int SIfDir = 0x4000;
    public const int SIfLnk = 0xA000;

    public static int OpenAt(int dirFd, ref byte nameZ, int flags)
    {
        int fd;
        do
        {
            fd = OpenAtNative(dirFd, ref nameZ, flags, 0);
        }
        while (fd < 0 && Marshal.GetLastPInvokeError() == EIntr);
        return fd;
    }

    public static nint Read(int fd, ref byte buffer, int count)
    {
        nint n;
        do
        {
            n = ReadNative(fd, ref buffer, count);
        }
        while (n < 0 && Marshal.GetLastPInvokeError() == EIntr);
        return n;
    }

    public static string ErrorText(int errno) => Marshal.GetPInvokeErrorMessage(errno);

    [DllImport("libc", EntryPoint = "openat", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int OpenAtNative(int dirFd, ref byte nameZ, int flags, int mode);

    [DllImport("libc", EntryPoint = "read", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern nint ReadNative(int fd, ref byte buffer, nint count);

    [DllImport("libc", EntryPoint = "close", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    public static extern int Close(int fd);

    [DllImport("libc", EntryPoint = "statx", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    public static extern int Statx(int dirFd, ref byte nameZ, int flags, uint mask, ref byte buffer);

    /// <summary>glibc 2.30+ and musl export it; one call returns as many entries as fit in the buffer.</summary>
    [DllImport("libc", EntryPoint = "getdents64", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    public static extern nint GetDents64(int fd, ref byte buffer, nint count);

    [DllImport("libc", EntryPoint = "readlinkat", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    public static extern nint ReadLinkAt(int dirFd, ref byte nameZ, ref byte buffer, nint size);
}
