namespace BuildFarm.Testing;

/// <summary>Locations inside the repository checkout the tests run from.</summary>
public static class RepoPaths
{
    public static string Root { get; } = FindRoot();

    /// <summary>Published executables (<c>./farm build</c> puts them here).</summary>
    public static string Bin => Path.Combine(Root, "artifacts", "bin");

    /// <summary>
    /// <c>buildfarm</c> as users run it: the NativeAOT front (src/CliHost) that answers <c>store hash</c> itself and
    /// execs <see cref="BuildfarmCli"/> for everything else.
    /// </summary>
    public static string Buildfarm => Path.Combine(Bin, "buildfarm");

    /// <summary>The managed CLI's own apphost (src/Cli), which the front execs.</summary>
    public static string BuildfarmCli => Path.Combine(Bin, "buildfarm-cli");

    public static string BuildfarmWorker => Path.Combine(Bin, "buildfarm-worker");

    /// <summary>The NativeAOT build hook (<c>buildfarm-hook nix|guix</c>, src/HookHost).</summary>
    public static string BuildfarmHook => Path.Combine(Bin, "buildfarm-hook");

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "BuildFarm.sln")))
                return dir.FullName;
        }

        throw new InvalidOperationException("BuildFarm.sln not found above " + AppContext.BaseDirectory);
    }
}
