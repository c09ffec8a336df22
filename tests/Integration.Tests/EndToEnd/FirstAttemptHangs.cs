using System.Globalization;

namespace BuildFarm.Integration.Tests.EndToEnd;

/// <summary>
/// A builder script whose first run records its pid in a marker file and sleeps (a long build to interrupt),
/// while any later attempt, on any worker of this machine, finishes at once with <c>done</c>.
/// </summary>
internal sealed class FirstAttemptHangs(string marker)
{
    public string Script => $"if [ -e {marker} ]; then echo done > $out; else echo $$ > {marker}.tmp; /bin/mv {marker}.tmp {marker}; exec /bin/sleep 120; fi";

    /// <summary>Waits until the first run is sleeping and returns its pid.</summary>
    public async Task<int> WaitStartedAsync()
    {
        var pid = 0;
        await EndToEndFarm.WaitUntilAsync(() => Task.FromResult(File.Exists(marker) && int.TryParse(File.ReadAllText(marker).Trim(), CultureInfo.InvariantCulture, out pid)),
            TimeSpan.FromSeconds(60), () => $"the builder to start (marker {marker})");
        return pid;
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
            if (!File.Exists(marker) || !int.TryParse(File.ReadAllText(marker).Trim(), CultureInfo.InvariantCulture, out var pid))
                return;
            if (IsAlive(pid) && File.ReadAllText($"/proc/{pid}/cmdline").StartsWith("sleep", StringComparison.Ordinal))
                System.Diagnostics.Process.GetProcessById(pid).Kill();
        }
        catch (Exception e) when (e is IOException or ArgumentException or InvalidOperationException)
        {
        }
    }
}
