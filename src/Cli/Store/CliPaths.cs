using BuildFarm.Store.Paths;

namespace BuildFarm.Cli.Store;

/// <summary>Maps what the user typed to a file: a logical store path (or a path inside one) under the layout's
/// physical root if it exists there, otherwise the literal path.</summary>
internal static class CliPaths
{
    public static string ResolveExisting(StoreLayout layout, string path)
    {
        var prefix = layout.StoreDir.Path + "/";
        if (layout.Root.Length > 0 && path.StartsWith(prefix, StringComparison.Ordinal))
        {
            var physical = layout.Root + path;
            if (Exists(physical))
                return physical;
        }

        return Exists(path)
            ? path
            : throw new CliError(layout.Root.Length > 0 && path.StartsWith(prefix, StringComparison.Ordinal)
                ? $"path '{path}' exists neither under the store root {layout.Root} nor as a literal path"
                : $"path '{path}' does not exist");
    }

    /// <summary>True for anything lstat finds, dangling symlinks included.</summary>
    private static bool Exists(string path)
    {
        try
        {
            File.GetAttributes(path);
            return true;
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return false;
        }
    }
}
