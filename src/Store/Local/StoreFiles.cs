using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace BuildFarm.Store.Local;

/// <summary>File-system chores of the store: canonical modes and times, copying in, deleting read-only trees.</summary>
internal static class StoreFiles
{
    private const UnixFileMode ReadOnly = UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead;
    private const UnixFileMode Executable = ReadOnly | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;
    private const UnixFileMode Writable = Executable | UnixFileMode.UserWrite;
    private static readonly DateTime CanonicalTime = DateTime.UnixEpoch.AddSeconds(1);

    public static bool Exists(string path) => KindOf(path) != EntryKind.Missing;

    /// <summary>
    /// Makes a tree look like every store path: files 0444 or 0555 (only the owner's execute bit counts, as in a
    /// NAR), directories 0555, mtime 1. Anything a NAR cannot hold (devices, fifos, sockets) is refused.
    /// </summary>
    public static void Canonicalise(string path)
    {
        var kind = KindOf(path);
        if (kind == EntryKind.Symlink)
            return;
        if (kind == EntryKind.Directory)
        {
            File.SetUnixFileMode(path, Writable);
            foreach (var child in System.IO.Directory.EnumerateFileSystemEntries(path))
                Canonicalise(child);
            System.IO.Directory.SetLastWriteTimeUtc(path, CanonicalTime);
            File.SetUnixFileMode(path, Executable);
            return;
        }

        if (kind != EntryKind.Regular)
            throw new StoreException($"'{path}' is not a regular file, directory or symlink; a store path cannot contain it");
        var info = new FileInfo(path);
        var mode = (info.UnixFileMode & UnixFileMode.UserExecute) != 0 ? Executable : ReadOnly;
        File.SetUnixFileMode(path, mode | UnixFileMode.UserWrite);
        File.SetLastWriteTimeUtc(path, CanonicalTime);
        File.SetUnixFileMode(path, mode);
    }

    /// <summary>Copies a file, directory or symlink (not following symlinks) to <paramref name="target"/>.</summary>
    public static void Copy(string source, string target, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var kind = KindOf(source);
        if (kind == EntryKind.Symlink)
        {
            File.CreateSymbolicLink(target, new FileInfo(source).LinkTarget!);
            return;
        }

        if (kind == EntryKind.Directory)
        {
            System.IO.Directory.CreateDirectory(target);
            foreach (var child in System.IO.Directory.EnumerateFileSystemEntries(source))
                Copy(child, Path.Combine(target, Path.GetFileName(child)), cancellationToken);
            return;
        }

        if (kind == EntryKind.Missing)
            throw new StoreException($"'{source}' does not exist");
        if (kind != EntryKind.Regular)
            throw new StoreException($"'{source}' is not a regular file, directory or symlink; a store path cannot contain it");
        File.Copy(source, target);
    }

    /// <summary>Deletes a file, symlink or read-only directory tree; a missing path is fine.</summary>
    public static void Delete(string path)
    {
        var kind = KindOf(path);
        if (kind == EntryKind.Missing)
            return;
        if (kind != EntryKind.Directory)
        {
            if (Unlink(path) != 0 && Marshal.GetLastPInvokeError() != ENoEnt)
                throw new IOException($"cannot delete '{path}': errno {Marshal.GetLastPInvokeError()}");
            return;
        }

        MakeWritable(path);
        System.IO.Directory.Delete(path, recursive: true);
    }

    /// <summary>
    /// Renames within one directory with <c>rename(2)</c> (atomic; a directory keeps its parent, so its own mode does
    /// not matter). Never follows a symlink: .NET's moves treat a symlink to a directory as neither file nor directory.
    /// </summary>
    public static void Rename(string source, string target)
    {
        if (RenameNative(source, target) != 0)
            throw new IOException($"cannot rename '{source}' to '{target}': errno {Marshal.GetLastPInvokeError()}");
    }

    /// <summary>Flushes every regular file of a tree to disk before it is renamed into place.</summary>
    public static void SyncTree(string path)
    {
        var kind = KindOf(path);
        if (kind == EntryKind.Symlink)
            return;
        if (kind == EntryKind.Directory)
        {
            foreach (var child in System.IO.Directory.EnumerateFileSystemEntries(path))
                SyncTree(child);
            return;
        }

        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read);
        if (RestoreCalls.Fsync(handle) is var errno and not 0)
            throw new IOException($"fsync of '{path}' failed: errno {errno}");
    }

    private static void MakeWritable(string dir)
    {
        File.SetUnixFileMode(dir, Writable);
        foreach (var child in System.IO.Directory.EnumerateDirectories(dir))
        {
            if (KindOf(child) == EntryKind.Directory)
                MakeWritable(child);
        }
    }

    /// <summary>
    /// What <c>lstat</c> says <paramref name="path"/> is, never following a symlink (.NET's own checks follow it, so a
    /// symlink to a directory looks like a directory to some calls and like nothing to others). <c>statx</c>'s layout
    /// is the same on every architecture.
    /// </summary>
    public static EntryKind KindOf(string path)
    {
        var buffer = new byte[256];
        if (Statx(AtFdCwd, path, AtSymlinkNoFollow, StatxType, buffer) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            return errno is ENoEnt or ENotDir ? EntryKind.Missing
                : throw new IOException($"statx of '{path}' failed: errno {errno}");
        }

        return (BitConverter.ToUInt16(buffer, 28) & 0xF000) switch
        {
            0x8000 => EntryKind.Regular,
            0x4000 => EntryKind.Directory,
            0xA000 => EntryKind.Symlink,
            _ => EntryKind.Special,
        };
    }

    /// <summary>
    /// Opens a file for reading with one <c>open</c> call. .NET's <see cref="File.OpenHandle"/> adds an fstat and an
    /// flock/unlock pair per file, which doubled the system calls of hashing a tree of small files (bench/store-hash).
    /// </summary>
    public static SafeFileHandle OpenRead(string path)
    {
        int fd;
        do
        {
            fd = OpenNative(path, ORdOnly | OCloExec);
        }
        while (fd < 0 && Marshal.GetLastPInvokeError() == EIntr);
        if (fd < 0)
        {
            // The exceptions File.OpenHandle throws for the same errors, so callers' handling stays as it was.
            var errno = Marshal.GetLastPInvokeError();
            var message = $"cannot open '{path}': {Marshal.GetPInvokeErrorMessage(errno)}";
            throw errno switch
            {
                ENoEnt => new FileNotFoundException(message, path),
                EAcces or EPerm => new UnauthorizedAccessException(message),
                _ => new IOException(message, errno),
            };
        }

        return new SafeFileHandle(fd, ownsHandle: true);
    }

    /// <summary>One <c>read</c> from the handle's current position into <paramref name="buffer"/>; 0 at end of file.</summary>
    public static int Read(SafeFileHandle file, Span<byte> buffer)
    {
        if (buffer.IsEmpty)
            return 0;
        nint n;
        do
        {
            n = ReadNative(file, ref MemoryMarshal.GetReference(buffer), buffer.Length);
        }
        while (n < 0 && Marshal.GetLastPInvokeError() == EIntr);
        if (n < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new IOException($"read failed: {Marshal.GetPInvokeErrorMessage(errno)}", errno);
        }

        return (int)n;
    }

    private const int ORdOnly = 0;
    private const int OCloExec = 0x80000;
    private const int EIntr = 4;
    private const int EPerm = 1;
    private const int EAcces = 13;
    private const int ENoEnt = 2;
    private const int ENotDir = 20;
    private const int AtFdCwd = -100;
    private const int AtSymlinkNoFollow = 0x100;
    private const uint StatxType = 0x1;

    [DllImport("libc", EntryPoint = "open", SetLastError = true, CharSet = CharSet.Ansi, BestFitMapping = false, ThrowOnUnmappableChar = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int OpenNative(string path, int flags);

    [DllImport("libc", EntryPoint = "read", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern nint ReadNative(SafeFileHandle fd, ref byte buffer, nint count);

    [DllImport("libc", EntryPoint = "rename", SetLastError = true, CharSet = CharSet.Ansi, BestFitMapping = false, ThrowOnUnmappableChar = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int RenameNative(string source, string target);

    [DllImport("libc", EntryPoint = "unlink", SetLastError = true, CharSet = CharSet.Ansi, BestFitMapping = false, ThrowOnUnmappableChar = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int Unlink(string path);

    [DllImport("libc", EntryPoint = "statx", SetLastError = true, CharSet = CharSet.Ansi, BestFitMapping = false, ThrowOnUnmappableChar = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int Statx(int dirfd, string path, int flags, uint mask, byte[] buffer);
}

/// <summary>What an entry is, as <c>lstat</c> sees it.</summary>
internal enum EntryKind
{
    Missing,
    Regular,
    Directory,
    Symlink,
    Special,
}
