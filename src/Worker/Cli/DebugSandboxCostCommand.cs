using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using BuildFarm.Worker.Sandbox;
using BuildFarm.Worker.Supervision;

namespace BuildFarm.Worker.Cli;

/// <summary>
/// Hidden <c>buildfarm-worker debug sandbox-cost</c>: runs trivial builds (static busybox as the input, plus
/// <c>--inputs</c> small directories as a closure would have, one output written) through the sandbox and
/// unsandboxed, back to back, and prints milliseconds per build for each, wall and CPU (this process and every child
/// it reaped: the launcher, bubblewrap, the builder); where the machine runs them, also the sandbox with the inputs
/// bound by bubblewrap one by one (before <see cref="StoreView"/>) and started through the shell chain
/// <see cref="SandboxLauncher"/> replaced (bench/sandbox/run.sh sets them beside Nix's own sandbox).
/// </summary>
internal static class DebugSandboxCostCommand
{
    public static Command Create()
    {
        var builds = new Option<int>("--builds") { Description = "Builds per runner", DefaultValueFactory = _ => 50 };
        var inputs = new Option<int>("--inputs") { Description = "Input paths besides busybox (small directories), as a closure has", DefaultValueFactory = _ => 0 };
        var only = new Option<bool>("--sandboxed-only")
        {
            Description = "Time only the worker's own sandbox (no bubblewrap-binds, shell-chain or unsandboxed rows): for strace and perf",
        };
        var command = new Command("sandbox-cost", "Time trivial builds in the sandbox and unsandboxed; print ms per build") { builds, inputs, only };
        command.SetAction(async (result, cancellationToken) =>
        {
            var n = Math.Max(1, result.GetValue(builds));
            var extra = Math.Max(0, result.GetValue(inputs));
            var root = Directory.CreateTempSubdirectory("buildfarm-sandbox-cost-");
            try
            {
                File.SetUnixFileMode(root.FullName, (UnixFileMode)0b111_101_101);
                var store = Directory.CreateDirectory(Path.Combine(root.FullName, "store")).FullName;
                var input = Directory.CreateDirectory(Path.Combine(store, "00000000000000000000000000000000-busybox")).FullName;
                File.Copy(SandboxSettings.Default.Busybox, Path.Combine(input, "busybox"));
                for (var i = 0; i < extra; i++)
                    File.WriteAllText(Path.Combine(Directory.CreateDirectory(Path.Combine(store, $"{i:D24}00000000-input")).FullName, "data"), "data\n");
                var builds = Directory.CreateDirectory(Path.Combine(root.FullName, "builds")).FullName;
                var sandboxed = await TimeAsync(new SandboxRunner(), "/nix/store", store, builds, n, extra, cancellationToken);
                if (SandboxSettings.Default.UsesStoreView)
                    Console.WriteLine(StoreView.MountPointsInMemory ? $"inputs' mount points: on a tmpfs under the store directory's overlay (closures of {StoreView.OverlayFrom} or more; on disk below)" : $"inputs' mount points: on disk ({StoreView.OverlayFailure})");
                if (result.GetValue(only))
                {
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"sandboxed {sandboxed.Wall:0.0} ms/build (CPU {sandboxed.Cpu:0.0}) ({n} builds, {extra + 1} inputs)"));
                    return 0;
                }

                if (SandboxSettings.Default.UsesStoreView)
                {
                    var binds = await TimeAsync(new SandboxRunner(SandboxSettings.Default with { PrivateStoreMounts = false }), "/nix/store", store, builds, n, extra, cancellationToken);
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"inputs bound by bubblewrap one by one: sandboxed {binds.Wall:0.0} ms/build, CPU {binds.Cpu:0.0} ms/build ({extra + 1} inputs)"));
                }
                if (SandboxSettings.Default.UsesNativeLauncher)
                {
                    var shell = await TimeAsync(new SandboxRunner(SandboxSettings.Default with { NativeLauncher = false }), "/nix/store", store, builds, n, extra, cancellationToken);
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"through the shell chain (busybox sh, env, prlimit, setpriv): sandboxed {shell.Wall:0.0} ms/build, CPU {shell.Cpu:0.0} ms/build"));
                }

                var plain = await TimeAsync(new UnsandboxedRunner(), store, store, builds, n, extra, cancellationToken);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"sandboxed {sandboxed.Wall:0.0} ms/build (CPU {sandboxed.Cpu:0.0}), unsandboxed {plain.Wall:0.0} ms/build (CPU {plain.Cpu:0.0}), sandbox set-up {sandboxed.Wall - plain.Wall:0.0} ms/build ({n} builds each, {extra + 1} inputs)"));
                return 0;
            }
            finally
            {
                Execution.BuildDirectories.TryDelete(root.FullName);
            }
        });
        return command;
    }

    private static async Task<(double Wall, double Cpu)> TimeAsync(IBuilderRunner runner, string storeDir, string physical, string builds, int n, int extra, CancellationToken cancellationToken)
    {
        // Five untimed builds first: the runner's code is compiled and its files cached before the clock starts.
        await RunAsync(runner, storeDir, physical, builds, 5, extra, cancellationToken);
        var cpu = CpuMilliseconds();
        var clock = Stopwatch.StartNew();
        await RunAsync(runner, storeDir, physical, builds, n, extra, cancellationToken);
        return (clock.Elapsed.TotalMilliseconds / n, (CpuMilliseconds() - cpu) / n);
    }

    private static async Task RunAsync(IBuilderRunner runner, string storeDir, string physical, string builds, int n, int extra, CancellationToken cancellationToken)
    {
        for (var i = 0; i < n; i++)
        {
            var name = $"{i:D32}-out";
            var output = $"{storeDir}/{name}";
            var build = Directory.CreateDirectory(Path.Combine(builds, i.ToString(CultureInfo.InvariantCulture))).FullName;
            var busybox = $"{storeDir}/00000000000000000000000000000000-busybox/busybox";
            var spec = new BuilderSpec(busybox, ["sh", "-c", "echo built > $out"], new Dictionary<string, string> { ["out"] = output },
                storeDir, physical, build, AllowNetwork: false, TimeSpan.FromMinutes(1), TimeSpan.Zero,
                InputPaths: [$"{storeDir}/00000000000000000000000000000000-busybox", .. Enumerable.Range(0, extra).Select(e => $"{storeDir}/{e:D24}00000000-input")],
                OutputPaths: [output]);
            var result = await runner.RunAsync(spec, (_, _) => ValueTask.CompletedTask, cancellationToken);
            if (!result.Succeeded)
                throw new InvalidOperationException($"build {i} failed: {result}");
            File.Delete(Path.Combine(physical, name));
            Directory.Delete(build, recursive: true);
        }
    }

    /// <summary>User and system time of this process and of its reaped children (<c>/proc/self/stat</c> fields 14–17, in clock ticks of 10 ms).</summary>
    private static double CpuMilliseconds()
    {
        var stat = File.ReadAllText("/proc/self/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return fields[11..15].Sum(f => long.Parse(f, CultureInfo.InvariantCulture)) * 10.0;
    }
}
