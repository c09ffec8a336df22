namespace BuildFarm.Testing;

/// <summary>
/// A fresh directory under /tmp, deleted (best effort) on dispose. Mode 0755 like a store's parents on a real machine:
/// the build sandbox resolves bind-mount sources as the unprivileged build user.
/// </summary>
public sealed class TempDirectory : IDisposable
{
    public TempDirectory(string prefix = "bf", string? parent = null)
    {
        Path = parent is null
            ? Directory.CreateTempSubdirectory(prefix + "-").FullName
            : Directory.CreateDirectory(System.IO.Path.Combine(parent, $"{prefix}-{Guid.NewGuid():N}")).FullName;
        File.SetUnixFileMode(Path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
            | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
    }

    public string Path { get; }

    public string Combine(params string[] parts) => System.IO.Path.Combine([Path, .. parts]);

    public void Dispose()
    {
        try
        {
            MakeWritable(Path);
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    /// <summary>Store paths are read-only; restore write bits so the tree can be removed.</summary>
    private static void MakeWritable(string dir)
    {
        foreach (var entry in new DirectoryInfo(dir).EnumerateFileSystemInfos("*", SearchOption.AllDirectories))
        {
            if (entry.LinkTarget is null && entry is DirectoryInfo)
                File.SetUnixFileMode(entry.FullName, File.GetUnixFileMode(entry.FullName) | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.UserRead);
        }
    }
}
