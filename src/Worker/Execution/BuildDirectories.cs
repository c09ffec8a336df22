namespace BuildFarm.Worker.Execution;

/// <summary>Fresh private build directories, and removal of leftovers of earlier attempts.</summary>
internal static class BuildDirectories
{
    public static string CreateFresh(string baseDir, BuildPlan plan)
    {
        Directory.CreateDirectory(baseDir);
        var name = Path.GetFileName(plan.DrvPath);
        if (name.EndsWith(".drv", StringComparison.Ordinal))
            name = name[..^4];
        var dir = Path.Combine(baseDir, $"{name}-{plan.BuildId:N}-{plan.Attempt}");
        TryDelete(dir);
        Directory.CreateDirectory(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return dir;
    }

    /// <summary>An unregistered output left by a crashed or failed attempt is deleted before the builder runs.</summary>
    /// <summary>
    /// A fresh build directory for <paramref name="plan"/> with stale outputs removed, or the Infrastructure result
    /// that explains why the machine could not prepare it.
    /// </summary>
    public static ExecutionResult? TryPrepare(string baseDir, BuildPlan plan, out string buildDir)
    {
        buildDir = "";
        try
        {
            buildDir = CreateFresh(baseDir, plan);
            foreach (var path in plan.OutputPhysicalPaths.Values)
                DeleteStale(path);
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return new ExecutionResult(ExecutionOutcome.Infrastructure, null, $"cannot prepare the build directory under {baseDir}: {e.Message}");
        }
    }

    public static void DeleteStale(string path)
    {
        var info = new FileInfo(path);
        if (info.LinkTarget is not null || info.Exists)
            info.Delete();
        else if (Directory.Exists(path))
            Delete(path);
    }

    public static void TryDelete(string dir)
    {
        try
        {
            if (Directory.Exists(dir))
                Delete(dir);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    private static void Delete(string dir)
    {
        foreach (var d in Sandbox.TreeWalk.Below(dir).OfType<DirectoryInfo>())
        {
            if (!Sandbox.TreeWalk.IsLink(d.Attributes))
                d.UnixFileMode |= UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
        }

        new DirectoryInfo(dir) { UnixFileMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute }.Delete(recursive: true);
    }
}
