using System.IO.Enumeration;

namespace BuildFarm.Worker.Sandbox;

/// <summary>
/// Walks a tree a builder wrote without following its symlinks. .NET's recursive enumeration follows a symlink to a
/// directory; in a build's files such a link (<c>ln -s /etc /build/x</c>) would lead the worker, root or holding
/// CAP_CHOWN, into the host's files: chowning, chmodding or counting them as the build's.
/// </summary>
internal static class TreeWalk
{
    /// <summary>Every entry under <paramref name="root"/> (not itself); symlinks are returned, never entered.</summary>
    public static IEnumerable<FileSystemInfo> Below(string root, bool ignoreInaccessible = false) =>
        new FileSystemEnumerable<FileSystemInfo>(root, (ref FileSystemEntry e) => e.ToFileSystemInfo(),
            new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0, IgnoreInaccessible = ignoreInaccessible })
        {
            ShouldRecursePredicate = (ref FileSystemEntry e) => !IsLink(e.Attributes),
        };

    public static bool IsLink(FileAttributes attributes) => (attributes & FileAttributes.ReparsePoint) != 0;
}
