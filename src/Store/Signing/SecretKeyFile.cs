namespace BuildFarm.Store.Signing;

/// <summary>
/// Loads a secret key file (<c>name:base64</c>, as <c>nix key generate-secret</c> writes) for everything that signs:
/// the worker, the dispatcher and <c>buildfarm store sign</c>. A file that group or others can access is refused
/// before it is read: whoever can read it can sign as this key, so a leaked mode is treated as a broken config.
/// </summary>
public static class SecretKeyFile
{
    private const UnixFileMode Exposed = UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute
        | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    /// <summary>Null when only the owner can access <paramref name="file"/>; otherwise the refusal, naming the file and the fix.</summary>
    public static string? CheckPermissions(string file)
    {
        if (OperatingSystem.IsWindows())
            return null;
        var mode = File.GetUnixFileMode(file);
        if ((mode & Exposed) == 0)
            return null;
        return $"secret key file '{file}' is accessible by group or others (mode {Convert.ToString((int)mode, 8).PadLeft(4, '0')}): "
            + $"anyone who can read it can sign as this key; restrict it with `chmod 600 {file}`";
    }

    /// <summary>Reads and parses <paramref name="file"/>; on failure <paramref name="error"/> names the file and what is wrong.</summary>
    public static bool TryRead(string file, out SigningKey? key, out string? error)
    {
        key = null;
        string text;
        try
        {
            error = CheckPermissions(file);
            if (error is not null)
                return false;
            text = File.ReadAllText(file);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            error = $"secret key file '{file}' cannot be read: {e.Message}";
            return false;
        }

        if (!SigningKey.TryParse(text.Trim(), out key, out var parseError))
        {
            error = $"secret key file '{file}': {parseError}";
            return false;
        }

        return true;
    }

    /// <summary>Like <see cref="TryRead"/>, throwing <see cref="FormatException"/> with the same message.</summary>
    public static SigningKey Read(string file) =>
        TryRead(file, out var key, out var error) ? key! : throw new FormatException(error);
}
