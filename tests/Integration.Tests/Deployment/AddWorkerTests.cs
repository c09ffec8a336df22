using System.Diagnostics;
using BuildFarm.Testing;

namespace BuildFarm.Integration.Tests.Deployment;

/// <summary>
/// Adding a worker while a graph builds: <c>./farm add-worker</c> starts one more process and nothing else restarts;
/// the new worker takes builds as soon as it is online.
/// </summary>
[Collection(LocalFarms.Name)]
public sealed class AddWorkerTests
{
    [Fact]
    public async Task AddWorker_WhileGraphBuilds_NewWorkerTakesBuildsAndNothingRestarts()
    {
        // One one-slot worker that can run every node of the example graph.
        // The demo's derivations renamed (fresh paths in the shared /nix/store); its farm is `./farm up --nix`'s.
        var nonce = Guid.NewGuid().ToString("N")[..10];
        using var farm = new LocalFarm(workers: "solo x86_64-linux,i686-linux kvm,big-parallel - 1 1",
            environment: new Dictionary<string, string> { ["FARM_DEMO_NONCE"] = nonce });
        var up = await farm.RunAsync(TimeSpan.FromMinutes(3), "up", "--nix", "--no-install", "--no-build");
        Assert.True(up.ExitCode == 0, $"./farm up exited {up.ExitCode}\n{up.Stdout}\n{up.Stderr}\n{farm.Logs()}");
        var pidsBefore = Pids(farm);

        var demo = farm.RunAsync(TimeSpan.FromMinutes(4), "demo", "--no-install", "--no-build");
        await WaitAsync(async () => (await farm.BuildsAsync()).Any(b => b.Worker == "solo"), "solo to start a build of the graph", farm);
        // solo stops taking builds (its running one finishes): from here only the new worker can make progress.
        using (var pause = await farm.Api.PostAsync(new Uri("api/workers/solo/pause", UriKind.Relative), null))
            Assert.True(pause.IsSuccessStatusCode, $"pause solo: {(int)pause.StatusCode}");

        var add = await farm.RunAsync(TimeSpan.FromMinutes(2), "add-worker", "extra", "--systems", "x86_64-linux,i686-linux", "--features", "kvm", "--slots", "2");
        Assert.True(add.ExitCode == 0, $"./farm add-worker exited {add.ExitCode}\n{add.Stdout}\n{add.Stderr}\n{farm.Logs()}");

        var result = await demo;
        Assert.True(result.ExitCode == 0, $"./farm demo exited {result.ExitCode}\n{result.Stdout}\n{result.Stderr}\n{farm.Logs()}");
        var builds = await farm.BuildsAsync();
        Assert.Contains(builds, b => b.Worker == "extra" && b.State == "succeeded");
        Assert.True(File.Exists(Path.Combine(FarmDemoTests.ResultPath(result.Stdout, $"-demo-{nonce}-release"), "summary")));
        // Nothing that was running before restarted: same RabbitMQ, sshd, dispatcher and solo processes.
        foreach (var (name, pid) in pidsBefore)
            Assert.True(Pids(farm).GetValueOrDefault(name) == pid && IsAlive(pid), $"{name} (pid {pid}) was restarted or stopped");
    }

    private static Dictionary<string, int> Pids(LocalFarm farm) =>
        Directory.EnumerateFiles(Path.Combine(farm.Dir, "pids"), "*.pid")
            .ToDictionary(f => Path.GetFileNameWithoutExtension(f), f => int.Parse(File.ReadAllText(f).Trim(), System.Globalization.CultureInfo.InvariantCulture));

    private static bool IsAlive(int pid)
    {
        try
        {
            using var p = Process.GetProcessById(pid);
            return !p.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    private static async Task WaitAsync(Func<Task<bool>> condition, string what, LocalFarm farm)
    {
        var deadline = Stopwatch.StartNew();
        while (!await condition())
        {
            if (deadline.Elapsed > TimeSpan.FromMinutes(2))
                throw new TimeoutException($"waited 2 min for {what}\n{farm.Logs()}");
            await Task.Delay(200);
        }
    }
}
