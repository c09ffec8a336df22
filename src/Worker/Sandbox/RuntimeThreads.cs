using System.Runtime;

namespace BuildFarm.Worker.Sandbox;

/// <summary>
/// Threads the .NET runtime starts lazily, on whichever thread first needs them: such a thread inherits that thread's
/// mount namespace and shares its file system context (CLONE_FS). For <see cref="StoreView"/>'s private thread that
/// means a runtime thread living in a build's namespace for good, and a thread that cannot go back (setns: EINVAL).
/// Measured (a console program doing what the private thread does): a background collection triggered by that
/// thread's allocations after the GC's background thread had idled out started it there; with background
/// collections off it did not.
/// </summary>
internal static class RuntimeThreads
{
    /// <summary>
    /// Background (concurrent) collections off for the process: a collection then runs on the thread that triggers it,
    /// and no background GC thread is ever started. The worker's heap is small; its builders are other processes.
    /// </summary>
    public static void NoBackgroundGc()
    {
        if (GCSettings.LatencyMode != GCLatencyMode.Batch)
            GCSettings.LatencyMode = GCLatencyMode.Batch;
    }

    /// <summary>
    /// Whether tiered compilation is on: its background compiler thread starts from a thread whose calls reach a
    /// method's call count, and stops when idle, so a build's private thread could start it (and the worker would then
    /// stop: <see cref="StoreView"/>). Off in the worker's runtime configuration; the environment (DOTNET_ or
    /// COMPlus_TieredCompilation) overrides that, as the runtime reads it.
    /// </summary>
    public static bool TieredCompilationOn()
    {
        var env = Environment.GetEnvironmentVariable("DOTNET_TieredCompilation") ?? Environment.GetEnvironmentVariable("COMPlus_TieredCompilation");
        if (env is not null)
            return env.Trim() != "0";
        return AppContext.GetData("System.Runtime.TieredCompilation") is not (false or "false" or "False");
    }

    /// <summary>The names of this process's threads outside the caller that share the caller's mount namespace.</summary>
    public static string SharingNamespace()
    {
        try
        {
            var own = new FileInfo("/proc/thread-self/ns/mnt").LinkTarget;
            var tid = Path.GetFileName(new FileInfo("/proc/thread-self").LinkTarget ?? "");
            var names = new List<string>();
            foreach (var task in Directory.EnumerateDirectories("/proc/self/task"))
            {
                if (Path.GetFileName(task) == tid)
                    continue;
                if (new FileInfo(Path.Combine(task, "ns", "mnt")).LinkTarget == own)
                    names.Add($"{File.ReadAllText(Path.Combine(task, "comm")).Trim()} ({Path.GetFileName(task)})");
            }

            return names.Count == 0 ? "no other thread in its namespace" : "in its namespace: " + string.Join(", ", names);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return "its namespace's threads unreadable: " + e.Message;
        }
    }
}
