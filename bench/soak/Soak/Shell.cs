using System.Diagnostics;

namespace BuildFarm.Soak;

/// <summary>One finished child process: exit code and what it printed.</summary>
internal sealed record ShellResult(int ExitCode, string Stdout, string Stderr)
{
    public string Tail => string.Join(" | ", (Stderr.Trim() + "\n" + Stdout.Trim()).Trim().Split('\n').TakeLast(3));
}

/// <summary>Runs commands (the farm's CLI, kill, rabbitmqctl) and starts detached farm processes like scripts/farm-local.sh does.</summary>
internal static class Shell
{
    public static async Task<ShellResult> RunAsync(string file, IEnumerable<string> args, CancellationToken ct, IDictionary<string, string>? env = null, TimeSpan? timeout = null)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
        foreach (var a in args)
            info.ArgumentList.Add(a);
        if (env is not null)
            foreach (var (k, v) in env)
                info.Environment[k] = v;
        using var p = Process.Start(info) ?? throw new InvalidOperationException($"cannot start {file}");
        p.StandardInput.Close();
        var stdout = p.StandardOutput.ReadToEndAsync(ct);
        var stderr = p.StandardError.ReadToEndAsync(ct);
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(ct);
        limit.CancelAfter(timeout ?? TimeSpan.FromMinutes(5));
        try
        {
            await p.WaitForExitAsync(limit.Token);
        }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            if (ct.IsCancellationRequested)
                throw;
            return new ShellResult(-1, "", $"{file} timed out after {timeout}");
        }

        return new ShellResult(p.ExitCode, await stdout, await stderr);
    }

    /// <summary>
    /// Starts COMMAND in its own session (setsid execs it: the pid is the command's), output appended to LOG, and
    /// returns its pid.
    /// </summary>
    public static async Task<int> StartDetachedAsync(IReadOnlyList<string> command, string log, CancellationToken ct, IDictionary<string, string>? env = null)
    {
        var quoted = string.Join(' ', command.Select(Quote));
        var r = await RunAsync("/bin/sh", ["-c", $"setsid {quoted} >>{Quote(log)} 2>&1 </dev/null & echo $!"], ct, env);
        if (r.ExitCode != 0 || !int.TryParse(r.Stdout.Trim(), out var pid))
            throw new InvalidOperationException($"could not start {quoted}: {r.Tail}");
        return pid;
    }

    public static string Quote(string s) => "'" + s.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    public static bool Alive(int pid) => Directory.Exists($"/proc/{pid}") && !ProcStat(pid).State.Equals("Z", StringComparison.Ordinal);

    public static async Task SignalAsync(int pid, string signal, CancellationToken ct) =>
        await RunAsync("/bin/kill", [$"-{signal}", pid.ToString(System.Globalization.CultureInfo.InvariantCulture)], ct);

    public static async Task SignalGroupAsync(int pgid, string signal, CancellationToken ct) =>
        await RunAsync("/bin/kill", [$"-{signal}", "--", $"-{pgid}"], ct);

    /// <summary>State, parent, process group and session of a live process from /proc/PID/stat (empty state when gone).</summary>
    public static (string State, int Parent, int Group, int Session) ProcStat(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var rest = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return (rest[0], int.Parse(rest[1], System.Globalization.CultureInfo.InvariantCulture),
                int.Parse(rest[2], System.Globalization.CultureInfo.InvariantCulture), int.Parse(rest[3], System.Globalization.CultureInfo.InvariantCulture));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return ("", 0, 0, 0);
        }
    }

    /// <summary>When PID started, in clock ticks since boot (/proc/PID/stat's starttime); null when it is gone.</summary>
    public static long? StartTicks(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return long.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[19], System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return null;
        }
    }

    /// <summary>Now, in the clock ticks of <see cref="StartTicks"/> (USER_HZ, 100 on Linux).</summary>
    public static long NowTicks() =>
        (long)(double.Parse(File.ReadAllText("/proc/uptime").Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture) * 100);

    public static IEnumerable<int> AllPids() =>
        Directory.EnumerateDirectories("/proc").Select(Path.GetFileName).Where(n => n is not null && n.All(char.IsAsciiDigit)).Select(n => int.Parse(n!, System.Globalization.CultureInfo.InvariantCulture));

    /// <summary>Every live descendant of ROOT (children first found through /proc/*/stat).</summary>
    public static List<int> Descendants(int root)
    {
        var parents = AllPids().Select(p => (Pid: p, Stat: ProcStat(p))).Where(x => x.Stat.State.Length > 0).ToList();
        var found = new List<int>();
        var frontier = new Queue<int>([root]);
        while (frontier.TryDequeue(out var p))
            foreach (var child in parents.Where(x => x.Stat.Parent == p).Select(x => x.Pid))
            {
                found.Add(child);
                frontier.Enqueue(child);
            }
        return found;
    }
}
