namespace BuildFarm.Testing;

/// <summary>Writes secret key files as their loaders require: mode 0600, since a group- or world-readable one is refused.</summary>
public static class SecretKeyFiles
{
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    public static void Write(string path, string text)
    {
        File.WriteAllText(path, text);
        File.SetUnixFileMode(path, OwnerOnly);
    }

    public static async Task WriteAsync(string path, string text)
    {
        await File.WriteAllTextAsync(path, text);
        File.SetUnixFileMode(path, OwnerOnly);
    }
}
