using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace BuildFarm.Store.Local;

/// <summary>
/// The Linux calls a restore writes a file with, one each: <c>open</c> with the final mode, <c>pwrite</c>,
/// <c>futimens</c> (both times at once), <c>fsync</c>. <see cref="FileStream"/> and <see cref="File"/>'s setters cost
/// about ten calls more per file (<c>fstat</c>, <c>fstatfs</c>, two <c>flock</c>s, <c>lseek</c>s, an <c>fchmod</c>, a
/// <c>utimensat</c> per time): 40 000 calls in a pull of 4 100 files.
/// </summary>
internal static class RestoreCalls
{
    private const int OWrOnly = 0x1;
    private const int OCreat = 0x40;
    private const int OExcl = 0x80;
    private const int OCloExec = 0x80000;
    private const int FGetFl = 3;
    private const int FSetFl = 4;
    private const int EIntr = 4;

    /// <summary><c>O_DIRECT</c> where this code knows its value (it differs between architectures), else 0.</summary>
    public static readonly int ODirect = RuntimeInformation.ProcessArchitecture switch
    {
        Architecture.X64 or Architecture.X86 => 0x4000,
        Architecture.Arm64 or Architecture.Arm => 0x10000,
        _ => 0,
    };

    /// <summary>The process's umask, read once from <c>/proc/self/status</c> (reading it with <c>umask(2)</c> would
    /// change it for a moment under other threads); null when unknown.</summary>
    private static readonly int? Umask = ReadUmask();

    /// <summary>
    /// Creates <paramref name="path"/> (which must not exist, not even as a dangling symlink) for writing, with
    /// <paramref name="mode"/> already: a file created read-only is still writable through the descriptor that created
    /// it, so no <c>fchmod</c> follows unless the umask took bits away.
    /// </summary>
    public static SafeFileHandle Create(string path, UnixFileMode mode)
    {
        int fd;
        do
        {
            fd = OpenNative(path, OWrOnly | OCreat | OExcl | OCloExec, (int)mode);
        }
        while (fd < 0 && Marshal.GetLastPInvokeError() == EIntr);
        if (fd < 0)
            throw Error($"cannot create '{path}'");
        var handle = new SafeFileHandle(fd, ownsHandle: true);
        if (Umask is not { } umask || (umask & (int)mode) != 0)
        {
            if (FChmod(handle, (int)mode) != 0)
            {
                var error = Error($"cannot set the mode of '{path}'");
                handle.Dispose();
                throw error;
            }
        }

        return handle;
    }

    /// <summary>Writes all of <paramref name="data"/> at <paramref name="offset"/>.</summary>
    public static void Write(SafeFileHandle file, ReadOnlySpan<byte> data, long offset)
    {
        if (TryWrite(file, data, offset) is var errno and not 0)
            throw new IOException($"cannot write a restored file: {ErrorText(errno)}");
    }

    /// <summary>
    /// Like <see cref="Write"/>, but returns the error number instead of throwing (0 on success): a write with
    /// <c>O_DIRECT</c> that the file system refuses (<c>EINVAL</c>) is retried without it.
    /// </summary>
    public static int TryWrite(SafeFileHandle file, ReadOnlySpan<byte> data, long offset)
    {
        while (!data.IsEmpty)
        {
            var n = PWrite(file, ref MemoryMarshal.GetReference(data), data.Length, offset);
            if (n < 0)
            {
                var errno = Marshal.GetLastPInvokeError();
                if (errno == EIntr)
                    continue;
                return errno;
            }

            data = data[(int)n..];
            offset += n;
        }

        return 0;
    }

    /// <summary>Sets both the access and the modification time to <paramref name="secondsSinceEpoch"/>.</summary>
    public static void SetTimes(SafeFileHandle file, long secondsSinceEpoch)
    {
        Span<long> times = [secondsSinceEpoch, 0, secondsSinceEpoch, 0];
        if (FUtimens(file, ref MemoryMarshal.GetReference(times)) != 0)
            throw Error("cannot set the times of a restored file");
    }

    /// <summary>Turns <c>O_DIRECT</c> on or off; false when the file system does not support it (or the flag is unknown here).</summary>
    public static bool TrySetDirect(SafeFileHandle file, bool direct)
    {
        if (ODirect == 0)
            return false;
        var flags = FcntlNative(file, FGetFl, 0);
        if (flags < 0)
            return false;
        var wanted = direct ? flags | ODirect : flags & ~ODirect;
        return wanted == flags || FcntlNative(file, FSetFl, wanted) == 0;
    }

    /// <summary>0 on success, else the error number.</summary>
    public static int Fsync(SafeFileHandle file) => FsyncNative(file) == 0 ? 0 : Marshal.GetLastPInvokeError();

    public static string ErrorText(int errno) => Marshal.GetPInvokeErrorMessage(errno);

    private static IOException Error(string what) => new($"{what}: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");

    private static int? ReadUmask()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
            {
                if (line.StartsWith("Umask:", StringComparison.Ordinal))
                    return Convert.ToInt32(line[6..].Trim(), 8);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or ArgumentException or OverflowException)
        {
        }

        return null;
    }

    [DllImport("libc", EntryPoint = "open", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int OpenNative([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags, int mode);

    [DllImport("libc", EntryPoint = "pwrite", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern nint PWrite(SafeFileHandle fd, ref byte buffer, nint count, long offset);

    [DllImport("libc", EntryPoint = "futimens", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int FUtimens(SafeFileHandle fd, ref long times);

    [DllImport("libc", EntryPoint = "fchmod", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int FChmod(SafeFileHandle fd, int mode);

    [DllImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int FcntlNative(SafeFileHandle fd, int command, int argument);

    [DllImport("libc", EntryPoint = "fsync", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int FsyncNative(SafeFileHandle fd);
}
