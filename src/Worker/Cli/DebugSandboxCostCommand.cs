using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using BuildFarm.Worker.Sandbox;
using BuildFarm.Worker.Supervision;

namespace BuildFarm.Worker.Cli;

/// <summary>
/// Hidden <c>buildfarm-worker debug sandbox-cost</c>: runs trivial builds (static busybox <c>true</c> as the only
/// input, one output written) through the sandbox and unsandboxed, back to back, and prints milliseconds per build
/// for each (bench/sandbox/run.sh sets them beside Nix's own sandbox).
/// </summary>
internal static class DebugSandboxCostCommand
{
    public static Command Create()
    {
        var builds = new Option<int>("--builds") { Description = "Builds per runner", DefaultValueFactory = _ => 50 };
        var command = new Command("sandbox-cost", "Time trivial builds in the sandbox and unsandboxed; print ms per build") { builds };
        command.SetAction(async (result, cancellationToken) =>
        {
            var n = Math.Max(1, result.GetValue(builds));
            var root = Directory.CreateTempSubdirectory("buildfarm-sandbox-cost-");
            try
            {
                File.SetUnixFileMode(root.FullName, (UnixFileMode)0b111_101_101);
                var store = Directory.CreateDirectory(Path.Combine(root.FullName, "store")).FullName;
                var input = Directory.CreateDirectory(Path.Combine(store, "00000000000000000000000000000000-busybox")).FullName;
                File.Copy(SandboxSettings.Default.Busybox, Path.Combine(input, "busybox"));
                var builds = Directory.CreateDirectory(Path.Combine(root.FullName, "builds")).FullName;
                var sandboxed = await TimeAsync(new SandboxRunner(), "/nix/store", store, builds, n, cancellationToken);
                var plain = await TimeAsync(new UnsandboxedRunner(), store, store, builds, n, cancellationToken);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"sandboxed {sandboxed:0.0} ms/build, unsandboxed {plain:0.0} ms/build, sandbox set-up {sandboxed - plain:0.0} ms/build ({n} builds each)"));
                return 0;
            }
            finally
            {
                Execution.BuildDirectories.TryDelete(root.FullName);
            }
        });
        return command;
    }

    private static async Task<double> TimeAsync(IBuilderRunner runner, string storeDir, string physical, string builds, int n, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < n; i++)
        {
            var name = $"{i:D32}-out";
            var output = $"{storeDir}/{name}";
            var build = Directory.CreateDirectory(Path.Combine(builds, i.ToString(CultureInfo.InvariantCulture))).FullName;
            var busybox = $"{storeDir}/00000000000000000000000000000000-busybox/busybox";
            var spec = new BuilderSpec(busybox, ["sh", "-c", "echo built > $out"], new Dictionary<string, string> { ["out"] = output },
                storeDir, physical, build, AllowNetwork: false, TimeSpan.FromMinutes(1), TimeSpan.Zero,
                InputPaths: [$"{storeDir}/00000000000000000000000000000000-busybox"], OutputPaths: [output]);
            var result = await runner.RunAsync(spec, (_, _) => ValueTask.CompletedTask, cancellationToken);
            if (!result.Succeeded)
                throw new InvalidOperationException($"build {i} failed: {result}");
            File.Delete(Path.Combine(physical, name));
            Directory.Delete(build, recursive: true);
        }

        return clock.Elapsed.TotalMilliseconds / n;
    }
}
