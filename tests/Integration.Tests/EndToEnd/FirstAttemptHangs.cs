using System.Globalization;

namespace BuildFarm.Integration.Tests.EndToEnd;

/// <summary>
/// A builder script whose first run records its pid in a marker file and sleeps (a long build to interrupt),
/// while any later attempt, on any worker of this machine, finishes at once with <c>done</c>.
/// </summary>
internal sealed class FirstAttemptHangs(string marker)
{
    // The sleep's argument is unique to this instance, so the host pid of the builder can be found in /proc even
    // when the builder runs in the sandbox's PID namespace (where its own $$ is 1).
    private readonly string _sleepArgument = "120." + Random.Shared.Next(100_000, 999_999).ToString(CultureInfo.InvariantCulture);

    public string Script => $"if [ -e {marker} ]; then echo done > $out; else echo $$ > {marker}.tmp; /bin/mv {marker}.tmp {marker}; exec /bin/sleep {_sleepArgument}; fi";

    /// <summary>Waits until the first run is sleeping and returns its pid as the host sees it.</summary>
    public async Task<int> WaitStartedAsync()
    {
        var pid = 0;
        await EndToEndFarm.WaitUntilAsync(() => Task.FromResult(File.Exists(marker) && (pid = HostPid()) > 0),
            TimeSpan.FromSeconds(60), () => $"the builder to start (marker {marker}, sleep {_sleepArgument})");
        return pid;
    }

    private int HostPid()
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), CultureInfo.InvariantCulture, out var pid))
                continue;
            try
            {
                var args = File.ReadAllText(Path.Combine(dir, "cmdline")).Split('\0');
                if (args.Length >= 2 && args[0].EndsWith("sleep", StringComparison.Ordinal) && args[1] == _sleepArgument)
                    return pid;
            }
            catch (IOException)
            {
            }
        }

        return 0;
    }

    public static bool IsAlive(int pid)
    {
        try
        {
            // A zombie has exited already; only a running or sleeping process counts.
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return !stat[(stat.LastIndexOf(')') + 2)..].StartsWith('Z');
        }
        catch (IOException)
        {
            return false;
        }
    }

    /// <summary>The first run's sleep outlives a <c>kill -9</c>ed agent (own session); end it, if it is still our sleep.</summary>
    public void KillOrphan()
    {
        try
        {
            var pid = HostPid();
            if (pid > 0 && IsAlive(pid))
                System.Diagnostics.Process.GetProcessById(pid).Kill();
        }
        catch (Exception e) when (e is IOException or ArgumentException or InvalidOperationException)
        {
        }
    }
}
