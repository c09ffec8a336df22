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

    public static bool Exists(string path) => Path.Exists(path) || new FileInfo(path).LinkTarget is not null;

    /// <summary>
    /// Makes a tree look like every store path: files 0444 or 0555 (only the owner's execute bit counts, as in a
    /// NAR), directories 0555, mtime 1. Anything a NAR cannot hold (devices, fifos, sockets) is refused.
    /// </summary>
    public static void Canonicalise(string path)
    {
        var info = new FileInfo(path);
        if (info.LinkTarget is not null)
            return;
        if (System.IO.Directory.Exists(path))
        {
            File.SetUnixFileMode(path, Writable);
            foreach (var child in System.IO.Directory.EnumerateFileSystemEntries(path))
                Canonicalise(child);
            System.IO.Directory.SetLastWriteTimeUtc(path, CanonicalTime);
            File.SetUnixFileMode(path, Executable);
            return;
        }

        if (!info.Exists || IsSpecial(path))
            throw new StoreException($"'{path}' is not a regular file, directory or symlink; a store path cannot contain it");
        var mode = (info.UnixFileMode & UnixFileMode.UserExecute) != 0 ? Executable : ReadOnly;
        File.SetUnixFileMode(path, mode | UnixFileMode.UserWrite);
        File.SetLastWriteTimeUtc(path, CanonicalTime);
        File.SetUnixFileMode(path, mode);
    }

    /// <summary>Copies a file, directory or symlink (not following symlinks) to <paramref name="target"/>.</summary>
    public static void Copy(string source, string target, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var info = new FileInfo(source);
        if (info.LinkTarget is not null)
        {
            File.CreateSymbolicLink(target, info.LinkTarget);
            return;
        }

        if (System.IO.Directory.Exists(source))
        {
            System.IO.Directory.CreateDirectory(target);
            foreach (var child in System.IO.Directory.EnumerateFileSystemEntries(source))
                Copy(child, Path.Combine(target, Path.GetFileName(child)), cancellationToken);
            return;
        }

        if (!info.Exists)
            throw new StoreException($"'{source}' does not exist");
        if (IsSpecial(source))
            throw new StoreException($"'{source}' is not a regular file, directory or symlink; a store path cannot contain it");
        File.Copy(source, target);
    }

    /// <summary>Deletes a file, symlink or read-only directory tree; a missing path is fine.</summary>
    public static void Delete(string path)
    {
        var info = new FileInfo(path);
        if (info.LinkTarget is not null || File.Exists(path))
        {
            File.Delete(path);
            return;
        }

        if (!System.IO.Directory.Exists(path))
            return;
        MakeWritable(path);
        System.IO.Directory.Delete(path, recursive: true);
    }

    /// <summary>Renames within one directory (atomic; a directory keeps its parent, so its own mode does not matter).</summary>
    public static void Rename(string source, string target)
    {
        if (new FileInfo(source).LinkTarget is null && System.IO.Directory.Exists(source))
            System.IO.Directory.Move(source, target);
        else
            File.Move(source, target);
    }

    /// <summary>Flushes every regular file of a tree to disk before it is renamed into place.</summary>
    public static void SyncTree(string path)
    {
        var info = new FileInfo(path);
        if (info.LinkTarget is not null)
            return;
        if (System.IO.Directory.Exists(path))
        {
            foreach (var child in System.IO.Directory.EnumerateFileSystemEntries(path))
                SyncTree(child);
            return;
        }

        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read);
        if (Fsync(handle) != 0)
            throw new IOException($"fsync of '{path}' failed: errno {Marshal.GetLastPInvokeError()}");
    }

    private static void MakeWritable(string dir)
    {
        File.SetUnixFileMode(dir, Writable);
        foreach (var child in System.IO.Directory.EnumerateDirectories(dir))
        {
            if (new FileInfo(child).LinkTarget is null)
                MakeWritable(child);
        }
    }

    /// <summary>True for anything but a regular file, directory or symlink (<c>statx</c>'s layout is the same on every architecture).</summary>
    private static bool IsSpecial(string path)
    {
        var buffer = new byte[256];
        if (Statx(AtFdCwd, path, AtSymlinkNoFollow, StatxType, buffer) != 0)
            throw new IOException($"statx of '{path}' failed: errno {Marshal.GetLastPInvokeError()}");
        var type = BitConverter.ToUInt16(buffer, 28) & 0xF000;
        return type is not (0x8000 or 0x4000 or 0xA000);
    }

    private const int AtFdCwd = -100;
    private const int AtSymlinkNoFollow = 0x100;
    private const uint StatxType = 0x1;

    [DllImport("libc", EntryPoint = "fsync", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int Fsync(SafeFileHandle fd);

    [DllImport("libc", EntryPoint = "statx", SetLastError = true, CharSet = CharSet.Ansi, BestFitMapping = false, ThrowOnUnmappableChar = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int Statx(int dirfd, string path, int flags, uint mask, byte[] buffer);
}
