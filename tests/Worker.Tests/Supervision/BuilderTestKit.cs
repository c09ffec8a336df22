using System.Text;
using BuildFarm.Worker.Sandbox;
using BuildFarm.Worker.Supervision;

namespace BuildFarm.Worker.Tests.Supervision;

/// <summary>Builders written as busybox shell scripts, a log collector with waits, and a /proc scan.</summary>
internal static class BuilderTestKit
{
    public const string Busybox = "/bin/busybox";
    public static readonly TimeSpan LogWait = TimeSpan.FromSeconds(30);

    /// <summary>The sandbox with the host's static busybox visible at its own path (an operator's extra path).</summary>
    public static readonly SandboxSettings Sandbox = new() { ExtraPaths = [new ExtraPath(Busybox, Busybox)] };

    /// <summary>A spec running <c>busybox sh -c SCRIPT</c> with an empty environment except BUILD=<paramref name="buildDir"/>.</summary>
    public static BuilderSpec Shell(string script, string buildDir, string physicalStore, string logicalStore = "/nix/store",
        bool allowNetwork = false, TimeSpan? timeout = null, TimeSpan? maxSilent = null) =>
        new(Busybox, ["sh", "-c", script], new Dictionary<string, string> { ["BUILD"] = buildDir },
            logicalStore, physicalStore, buildDir, allowNetwork, timeout ?? TimeSpan.FromSeconds(60), maxSilent ?? TimeSpan.Zero);

    /// <summary>
    /// Waits until no live process carries <paramref name="token"/> (SIGKILL is delivered asynchronously: a killed
    /// process may be seen for a moment under load) and returns those still alive after <paramref name="timeout"/>.
    /// </summary>
    public static async Task<IReadOnlyList<int>> LiveProcessesAfterAsync(string token, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(10));
        while (true)
        {
            var live = LiveProcessesWith(token);
            if (live.Count == 0 || DateTime.UtcNow >= deadline)
                return live;
            await Task.Delay(50);
        }
    }

    /// <summary>Pids of live (non-zombie) processes whose command line contains <paramref name="token"/>.</summary>
    public static IReadOnlyList<int> LiveProcessesWith(string token)
    {
        var found = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid))
                continue;
            try
            {
                var cmdline = File.ReadAllText(Path.Combine(dir, "cmdline"));
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                var state = stat[(stat.LastIndexOf(')') + 2)..][0];
                if (cmdline.Contains(token, StringComparison.Ordinal) && state != 'Z')
                    found.Add(pid);
            }
            catch (IOException)
            {
            }
        }

        return found;
    }

    /// <summary>The owner uid of a file (not following symlinks), from <c>stat -c %u</c>.</summary>
    public static long Owner(string path)
    {
        var psi = new System.Diagnostics.ProcessStartInfo("/usr/bin/stat", ["-c", "%u", path]) { RedirectStandardOutput = true };
        using var p = System.Diagnostics.Process.Start(psi)!;
        var text = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return long.Parse(text.Trim(), System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// Lines of /proc/self/mountinfo (the host's mount table as seen by the test), without the network namespaces
    /// other tests of the run pin under /run/netns (<c>ip netns add</c>; a sandbox never mounts one there), which come
    /// and go while a leak check runs.
    /// </summary>
    public static string[] HostMounts() =>
        [.. File.ReadAllLines("/proc/self/mountinfo").Where(l => l.Split(' ') is not [_, _, _, _, var point, ..] || !point.StartsWith("/run/netns/", StringComparison.Ordinal))];
}

/// <summary>Collects the log and lets a test wait for a text to appear in it.</summary>
internal sealed class LogCollector
{
    private readonly Lock _gate = new();
    private readonly List<byte> _bytes = [];
    private readonly List<(string Text, TaskCompletionSource Seen)> _waits = [];

    public string Text
    {
        get
        {
            lock (_gate)
                return Encoding.UTF8.GetString(_bytes.ToArray());
        }
    }

    public ValueTask OnLog(ReadOnlyMemory<byte> chunk, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            _bytes.AddRange(chunk.Span);
            var text = Encoding.UTF8.GetString(_bytes.ToArray());
            foreach (var (wanted, seen) in _waits)
            {
                if (text.Contains(wanted, StringComparison.Ordinal))
                    seen.TrySetResult();
            }
        }

        return ValueTask.CompletedTask;
    }

    /// <summary>Completes when <paramref name="text"/> has appeared in the log; fails saying what it waited for.</summary>
    public async Task WaitForAsync(string text, Task running)
    {
        var seen = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_gate)
        {
            _waits.Add((text, seen));
            if (Encoding.UTF8.GetString(_bytes.ToArray()).Contains(text, StringComparison.Ordinal))
                seen.TrySetResult();
        }

        var first = await Task.WhenAny(seen.Task, running, Task.Delay(BuilderTestKit.LogWait));
        if (first != seen.Task)
            throw new TimeoutException($"waited for '{text}' in the build log, but {(first == running ? "the build ended first" : $"it did not appear within {BuilderTestKit.LogWait}")}; log so far: {Text}");
    }
}
