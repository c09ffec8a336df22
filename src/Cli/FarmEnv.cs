namespace BuildFarm.Cli;

/// <summary>
/// Settings of a local farm started by <c>./farm up</c>, read only when <c>FARM_DIR</c> names its directory (as
/// <c>./farm up</c> prints: <c>export FARM_DIR=…</c>): <c>$FARM_DIR/env</c> holds <c>KEY=VALUE</c> lines
/// (<c>BUILDFARM_STORE_DIR</c>, <c>BUILDFARM_ROOT</c>), <c>$FARM_DIR/dispatcher.url</c> the API URL. Real environment
/// variables win over the file. Nothing is discovered from the current directory: a production machine's
/// <c>buildfarm</c> behaves the same wherever it runs.
/// </summary>
internal static class FarmEnv
{
    public const string DefaultUrl = "http://127.0.0.1:8080";

    public static string? Get(string name)
    {
        if (Environment.GetEnvironmentVariable(name) is { } value)
            return value;
        if (FarmDirectory() is not { } farm)
            return null;
        var file = Path.Combine(farm, "env");
        if (!File.Exists(file))
            return null;
        foreach (var line in File.ReadLines(file))
        {
            var eq = line.IndexOf('=', StringComparison.Ordinal);
            if (eq > 0 && line[..eq].Trim() == name)
                return line[(eq + 1)..].Trim();
        }

        return null;
    }

    /// <summary><c>BUILDFARM_URL</c>, else <c>$FARM_DIR/dispatcher.url</c>, else <see cref="DefaultUrl"/>.</summary>
    public static string DispatcherUrl()
    {
        if (Environment.GetEnvironmentVariable("BUILDFARM_URL") is { Length: > 0 } env)
            return env.Trim();
        var file = FarmDirectory() is { } farm ? Path.Combine(farm, "dispatcher.url") : null;
        return file is not null && File.Exists(file) ? File.ReadAllText(file).Trim() : DefaultUrl;
    }

    /// <summary>
    /// The UI/API bearer token from the variables the dispatcher reads it from (<c>BUILDFARM_UI__TOKEN</c>, or
    /// <c>BUILDFARM_DISPATCHER__UI__TOKEN</c>; names matched case-insensitively as the dispatcher does), or null.
    /// </summary>
    public static string? Token(System.Collections.IDictionary? variables = null)
    {
        string? legacy = null;
        foreach (System.Collections.DictionaryEntry e in variables ?? Environment.GetEnvironmentVariables())
        {
            if (e.Key is not string name || e.Value is not string { Length: > 0 } value)
                continue;
            if (name.Equals("BUILDFARM_DISPATCHER__UI__TOKEN", StringComparison.OrdinalIgnoreCase))
                return value;
            if (name.Equals("BUILDFARM_UI__TOKEN", StringComparison.OrdinalIgnoreCase))
                legacy = value;
        }

        return legacy;
    }

    private static string? FarmDirectory() =>
        Environment.GetEnvironmentVariable("FARM_DIR") is { Length: > 0 } dir ? dir : null;
}
