using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using BuildFarm.Testing;
using BuildFarm.Worker.Sandbox;
using BuildFarm.Worker.Supervision;
using BuildFarm.Worker.Tests.Supervision;

namespace BuildFarm.Worker.Tests.Sandbox;

/// <summary>
/// What <c>packaging/buildfarm-worker.service</c> gives the worker, read from the unit itself: its capabilities
/// (ambient and bounding), its state directory's mode and whether it has a runtime directory (/run/buildfarm, where
/// <see cref="BuildUserPool"/> locks build users).
/// </summary>
internal sealed record WorkerUnit(IReadOnlyList<string> Ambient, IReadOnlyList<string> Bounding, UnixFileMode StateDirectoryMode, bool RuntimeDirectory)
{
    public static WorkerUnit Read()
    {
        var lines = File.ReadAllLines(Path.Combine(RepoPaths.Root, "packaging", "buildfarm-worker.service"))
            .Where(l => !l.StartsWith('#') && l.Contains('=', StringComparison.Ordinal))
            .Select(l => l.Split('=', 2)).GroupBy(p => p[0].Trim()).ToDictionary(g => g.Key, g => g.Last()[1].Trim());
        static string[] Caps(string? value) => [.. (value ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(c => c.ToLowerInvariant().Replace("cap_", "", StringComparison.Ordinal))];
        return new WorkerUnit(
            Caps(lines.GetValueOrDefault("AmbientCapabilities")),
            Caps(lines.GetValueOrDefault("CapabilityBoundingSet")),
            (UnixFileMode)Convert.ToInt32(lines.GetValueOrDefault("StateDirectoryMode", "0755"), 8),
            lines.GetValueOrDefault("RuntimeDirectory", "").Split(' ').Contains("buildfarm"));
    }

    /// <summary>setpriv's form of a capability list: <c>-all,+chown,+kill</c>.</summary>
    public static string SetprivCaps(IEnumerable<string> caps) => string.Concat(caps.Select(c => ",+" + c).Prepend("-all"));
}

/// <summary>
/// A worker as the unit runs it, reproduced with setpriv: a process of an unprivileged user (<see cref="Uid"/>) with
/// only the unit's capabilities and no_new_privs, its state directory (mode from the unit) holding its keys, its build
/// directories and its store, and /run/buildfarm as systemd would give it (a private mount, the worker's own only if
/// the unit asks for RuntimeDirectory=buildfarm). Each build runs in <see cref="SandboxLauncher"/> started that way.
/// </summary>
internal sealed class UnitWorker : IDisposable
{
    public const long Uid = 61100;

    /// <summary>
    /// /run/buildfarm as systemd gives it: the service's own with RuntimeDirectory=buildfarm, else read-only
    /// (ProtectSystem=strict leaves /run writable only through RuntimeDirectory= or ReadWritePaths=).
    /// </summary>
    private const string RunDirectory = """
        mount --bind "$0" /run/buildfarm || exit 1
        if [ "$1" = ro ]; then mount -o remount,bind,ro /run/buildfarm || exit 1; fi
        shift
        exec "$@"
        """;
    private readonly TempDirectory _dir = new("unit-worker");
    private readonly WorkerUnit _unit = WorkerUnit.Read();
    private int _builds;

    public UnitWorker()
    {
        // Host uids no other test uses: the build user of this worker's only build is FirstUid itself (its pool is private).
        FirstUid = 910_000_000 + (Random.Shared.Next(0, 1_000_000) * 16L);
        Directory.CreateDirectory(State);
        Own(State, _unit.StateDirectoryMode);
        foreach (var sub in new[] { "builds", "store", "home", "keys", ".ssh" })
            Own(Directory.CreateDirectory(Path.Combine(State, sub)).FullName, sub == "store" ? (UnixFileMode)0x1ed : (UnixFileMode)0x1c0);
        Directory.CreateDirectory(Run);
        if (_unit.RuntimeDirectory)
            Own(Run, (UnixFileMode)0x1ed);
    }

    public long FirstUid { get; }

    public string State => _dir.Combine("state");

    public string Store => Path.Combine(State, "store");

    public WorkerUnit Unit => _unit;

    private string Run => _dir.Combine("run");

    /// <summary>A file of the worker's own, mode 0600 (its keys, its config).</summary>
    public string Secret(string relative, string content)
    {
        var path = Path.Combine(State, relative);
        File.WriteAllText(path, content);
        Own(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        return path;
    }

    /// <summary>Starts one build in a launcher process running as the unit's worker; <paramref name="onLine"/> sees each log line as it comes.</summary>
    public async Task<(BuilderResult Result, string Log)> RunAsync(string script, Action<string>? onLine = null, TimeSpan? timeout = null, IReadOnlyList<string>? outputs = null)
    {
        var n = Interlocked.Increment(ref _builds);
        var build = Path.Combine(State, "builds", $"b{n}");
        // As BuildDirectories makes it: the worker's own, 0700.
        Own(Directory.CreateDirectory(build).FullName, (UnixFileMode)0x1c0);
        var spec = BuilderTestKit.Shell(script, build, Store, timeout: timeout ?? TimeSpan.FromSeconds(60)) with { OutputPaths = outputs };
        var settings = BuilderTestKit.Sandbox with { FirstUid = FirstUid };
        var request = Path.Combine(State, "home", $"request{n}.json");
        await File.WriteAllTextAsync(request, JsonSerializer.Serialize(new LaunchRequest(spec, settings)));
        Own(request, (UnixFileMode)0x180);

        var caps = WorkerUnit.SetprivCaps(_unit.Ambient);
        var psi = new ProcessStartInfo("/usr/bin/unshare")
        {
            RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true,
        };
        string[] args =
        [
            "--mount", "--propagation", "private", BuilderTestKit.Busybox, "sh", "-c", RunDirectory, Run, _unit.RuntimeDirectory ? "rw" : "ro",
            "/usr/bin/setpriv", $"--reuid={Uid}", $"--regid={Uid}", "--clear-groups", $"--inh-caps={caps}", $"--ambient-caps={caps}",
            $"--bounding-set={WorkerUnit.SetprivCaps(_unit.Bounding)}", "--no-new-privs",
            "--", "/usr/bin/env", "-i", $"HOME={Path.Combine(State, "home")}", "PATH=/usr/bin:/bin", "DOTNET_CLI_TELEMETRY_OPTOUT=1", "DOTNET_NOLOGO=1",
            DotnetHost(), "exec", typeof(SandboxLauncher).Assembly.Location, SandboxLauncher.Command, request,
        ];
        foreach (var a in args)
            psi.ArgumentList.Add(a);
        Directory.CreateDirectory("/run/buildfarm");
        using var launcher = Process.Start(psi)!;
        launcher.StandardInput.Close();
        var log = new System.Text.StringBuilder();
        var stderr = launcher.StandardError.ReadToEndAsync();
        // A worker that cannot kill its build (no CAP_KILL) waits for it forever: so would this test.
        var limit = (timeout ?? TimeSpan.FromSeconds(60)) + TimeSpan.FromSeconds(30);
        using var hung = new CancellationTokenSource(limit);
        try
        {
            while (await launcher.StandardOutput.ReadLineAsync(hung.Token) is { } line)
            {
                log.Append(line).Append('\n');
                onLine?.Invoke(line);
            }

            await launcher.WaitForExitAsync(hung.Token);
        }
        catch (OperationCanceledException)
        {
            launcher.Kill();
            KillBuildUsers();
            throw new TimeoutException($"the worker's launcher had not ended {limit} after it started (its build's timeout plus 30 s); log: {log}");
        }

        if (!File.Exists(request + ".result"))
        {
            KillBuildUsers();
            throw new InvalidOperationException($"the launcher exited {launcher.ExitCode} without a result: {await stderr}; log: {log}");
        }

        var result = JsonSerializer.Deserialize<BuilderResult>(await File.ReadAllTextAsync(request + ".result"))!;
        return (result, log.ToString());
    }

    /// <summary>Live processes of this worker's build users.</summary>
    public IReadOnlyList<int> BuildUserProcesses() =>
        [.. Enumerable.Range(0, 16).SelectMany(i => HostileBuilderTests.ProcessesOfUid(FirstUid + i))];

    public void Dispose()
    {
        KillBuildUsers();
        _dir.Dispose();
    }

    private void KillBuildUsers()
    {
        foreach (var pid in BuildUserProcesses())
        {
            try
            {
                Process.GetProcessById(pid).Kill();
            }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception)
            {
                // Gone already.
            }
        }
    }

    /// <summary>The dotnet host running this test (testhost runs under it), else the one on PATH.</summary>
    private static string DotnetHost() =>
        Path.GetFileName(Environment.ProcessPath) == "dotnet" ? Environment.ProcessPath! : "/usr/bin/dotnet";

    private static void Own(string path, UnixFileMode mode)
    {
        Ownership.Change(path, Uid, Uid);
        File.SetUnixFileMode(path, mode);
    }
}
