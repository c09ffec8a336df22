using System.Diagnostics;
using System.Text.Json;

namespace BuildFarm.Soak;

/// <summary>
/// A rolling upgrade step under load: a worker is drained (SIGTERM: it finishes what it claimed, claims nothing more)
/// and started again speaking other contract versions. A worker on the release's own versions is "upgraded" to speak
/// the next one too (2 and 3, as docs/operations.md's upgrade order has workers first); one already upgraded is rolled
/// back. run.sh lets the dispatcher write both versions, so it routes each class by what its online workers speak
/// (ContractRouting) and every step changes which requests go where while builds run.
/// </summary>
internal sealed partial class Faults
{
    private const string ClockOffset = "BUILDFARM_TEST_CLOCK_OFFSET_SECONDS";
    private const string FirstVersion = "BUILDFARM_WORKER__ContractVersions__0", SecondVersion = "BUILDFARM_WORKER__ContractVersions__1";

    /// <summary>The environment WORKER starts with; faults add and remove their own variables only.</summary>
    private Dictionary<string, string> WorkerEnvironment(string worker)
    {
        if (!farm.WorkerEnvironment.TryGetValue(worker, out var env))
            farm.WorkerEnvironment[worker] = env = new(StringComparer.Ordinal);
        return env;
    }

    private async Task<Injection> UpgradeWorkerAsync(string worker, CancellationToken ct)
    {
        var before = await farm.ApiWorkerAsync(worker, ct) is { } w ? Versions(w) : [];
        var upgrade = !before.Contains(3);
        var clock = Stopwatch.StartNew();
        await farm.StopWorkerAsync(worker, ct);
        var drained = clock.Elapsed;
        var env = WorkerEnvironment(worker);
        if (upgrade)
        {
            env[FirstVersion] = "2";
            env[SecondVersion] = "3";
        }
        else
        {
            env.Remove(FirstVersion);
            env.Remove(SecondVersion);
        }

        await farm.StartAsync(Farm.WorkerProcess(worker), ct);
        await farm.WaitWorkersOnlineAsync(ct);
        int[] expected = upgrade ? [2, 3] : [2];
        var announced = "its announcement NOT seen";
        try
        {
            // The old process's last heartbeat may still be in flight: wait for the new one's versions.
            await Farm.WaitAsync(async () => await farm.ApiWorkerAsync(worker, ct) is { } now && Versions(now).SequenceEqual(expected),
                TimeSpan.FromSeconds(40), $"{worker} to announce contract versions {string.Join(", ", expected)}", ct);
            announced = $"announces [{string.Join(", ", expected)}]";
        }
        catch (TimeoutException)
        {
        }

        return new Injection(true, $"{(upgrade ? "upgraded" : "rolled back")} {worker}: drained in {drained.TotalSeconds:0.0} s, {announced}");
    }

    private static int[] Versions(JsonElement worker) =>
        worker.TryGetProperty("contractVersions", out var v) && v.ValueKind == JsonValueKind.Array ? [.. v.EnumerateArray().Select(e => e.GetInt32())] : [];
}
