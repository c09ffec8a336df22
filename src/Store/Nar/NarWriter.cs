using System.Text;

namespace BuildFarm.Store.Nar;

/// <summary>
/// Serialises a file system object as a NAR, byte for byte what <c>nix-store --dump</c> writes: regular files
/// (only the owner-executable bit survives), symlinks (never followed), directories with entries sorted by the
/// bytes of their UTF-8 names.
/// </summary>
public static class NarWriter
{
    private static readonly EnumerationOptions AllEntries = new()
    {
        AttributesToSkip = 0,
        IgnoreInaccessible = false,
        RecurseSubdirectories = false,
        ReturnSpecialDirectories = false,
    };

    public static Task WriteAsync(string physicalPath, Stream output, CancellationToken cancellationToken) =>
        WriteAsync(physicalPath, output, NarOutput.BufferSize, cancellationToken);

    /// <summary>
    /// Writes the NAR in chunks of at most <paramref name="bufferSize"/> bytes: large (1 MiB) for pipes and sockets,
    /// small for a hash computed on the same thread, so each chunk is hashed while it is still in the CPU's cache.
    /// </summary>
    internal static async Task WriteAsync(string physicalPath, Stream output, int bufferSize, CancellationToken cancellationToken)
    {
        using var nar = new NarOutput(output, bufferSize);
        await nar.WriteAsync(NarTokens.MagicBytes, cancellationToken);
        // The root's kind comes from lstat: .NET's attributes follow a root symlink to a directory, and a FileInfo of
        // it then finds no file (a valid NAR whose root is such a symlink was refused).
        var kind = Local.StoreFiles.KindOf(physicalPath);
        if (kind == Local.EntryKind.Missing)
            throw new FileNotFoundException($"cannot archive '{physicalPath}': it does not exist", physicalPath);
        if (kind == Local.EntryKind.Symlink)
            await WriteSymlinkAsync(nar, new FileInfo(physicalPath), cancellationToken);
        else
            await WriteNodeAsync(nar, kind == Local.EntryKind.Directory ? new DirectoryInfo(physicalPath) : new FileInfo(physicalPath), cancellationToken);
        await nar.CompleteAsync(cancellationToken);
    }

    private static async Task WriteNodeAsync(NarOutput nar, FileSystemInfo info, CancellationToken cancellationToken)
    {
        if ((info.Attributes & FileAttributes.ReparsePoint) != 0 && info.LinkTarget is not null)
        {
            await WriteSymlinkAsync(nar, info, cancellationToken);
            return;
        }

        await nar.WriteAsync(NarTokens.Open, cancellationToken);
        await nar.WriteAsync(NarTokens.Type, cancellationToken);
        if (info is DirectoryInfo directory)
        {
            await nar.WriteAsync(NarTokens.Directory, cancellationToken);
            foreach (var (name, child) in SortedEntries(directory))
            {
                await nar.WriteAsync(NarTokens.Entry, cancellationToken);
                await nar.WriteAsync(NarTokens.Open, cancellationToken);
                await nar.WriteAsync(NarTokens.Name, cancellationToken);
                await nar.WriteStringAsync(name, cancellationToken);
                await nar.WriteAsync(NarTokens.Node, cancellationToken);
                await WriteNodeAsync(nar, child, cancellationToken);
                await nar.WriteAsync(NarTokens.Close, cancellationToken);
            }
        }
        else
        {
            await nar.WriteAsync(NarTokens.Regular, cancellationToken);

            // Mode and size come from the lstat the enumeration already cached (like Nix, which also trusts its
            // lstat); a file that shrinks before it is read fails loudly instead of producing a short NAR.
            if ((info.UnixFileMode & UnixFileMode.UserExecute) != 0)
            {
                await nar.WriteAsync(NarTokens.Executable, cancellationToken);
                await nar.WriteAsync(NarTokens.Empty, cancellationToken);
            }

            await nar.WriteAsync(NarTokens.Contents, cancellationToken);
            var length = ((FileInfo)info).Length;
            using var file = Local.StoreFiles.OpenRead(info.FullName);
            await nar.WriteFileContentsAsync(file, length, info.FullName, cancellationToken);
        }

        await nar.WriteAsync(NarTokens.Close, cancellationToken);
    }

    private static async Task WriteSymlinkAsync(NarOutput nar, FileSystemInfo info, CancellationToken cancellationToken)
    {
        var target = info.LinkTarget ?? throw new IOException($"'{info.FullName}' stopped being a symlink while it was archived");
        await nar.WriteAsync(NarTokens.Open, cancellationToken);
        await nar.WriteAsync(NarTokens.Type, cancellationToken);
        await nar.WriteAsync(NarTokens.Symlink, cancellationToken);
        await nar.WriteAsync(NarTokens.Target, cancellationToken);
        await nar.WriteStringAsync(Utf8(target, info.FullName, "symlink target"), cancellationToken);
        await nar.WriteAsync(NarTokens.Close, cancellationToken);
    }

    private static List<(byte[] Name, FileSystemInfo Info)> SortedEntries(DirectoryInfo directory)
    {
        var entries = new List<(byte[] Name, FileSystemInfo Info)>();
        foreach (var child in directory.EnumerateFileSystemInfos("*", AllEntries))
            entries.Add((Utf8(child.Name, child.FullName, "file name"), child));
        entries.Sort(static (a, b) => a.Name.AsSpan().SequenceCompareTo(b.Name));
        return entries;
    }

    /// <summary>
    /// .NET decodes file names as UTF-8 and replaces invalid bytes with U+FFFD; such a name would archive under
    /// different bytes than Nix writes, so refuse it instead of producing a silently different hash.
    /// </summary>
    private static byte[] Utf8(string text, string path, string what) =>
        text.Contains('\uFFFD', StringComparison.Ordinal)
            ? throw new IOException($"{what} of '{path}' is not valid UTF-8; BuildFarm cannot archive it faithfully")
            : Encoding.UTF8.GetBytes(text);
}
