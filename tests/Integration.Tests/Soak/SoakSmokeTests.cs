using System.Text.RegularExpressions;
using BuildFarm.Integration.Tests.Deployment;
using BuildFarm.Testing;

namespace BuildFarm.Integration.Tests.Soak;

/// <summary>
/// The fault-injection soak (bench/soak/run.sh) with a handful of faults: its own `./farm up` farm, real kill -9s
/// and restarts, and the invariants it checks after each fault. The long runs are docs/RELIABILITY.md's, not here.
/// </summary>
[Collection(LocalFarms.Name)]
public sealed partial class SoakSmokeTests
{
    [Fact]
    public async Task RunSh_ThreeFaults_EveryInvariantHolds()
    {
        var run = await ProcessRunner.RunAsync(Path.Combine(RepoPaths.Root, "bench", "soak", "run.sh"), ["3", "--seed", "5"],
            environment: new Dictionary<string, string> { ["SKIP_BUILD"] = "1" }, workingDirectory: RepoPaths.Root, timeout: TimeSpan.FromMinutes(8));

        var last = run.Stdout.TrimEnd().Split('\n')[^1];
        Assert.True(run.ExitCode == 0, $"bench/soak/run.sh exited {run.ExitCode}\n{run.Stdout}\n{run.Stderr}");
        var summary = Summary().Match(last);
        Assert.True(summary.Success, $"last line: {last}\n{run.Stderr}");
        Assert.True(int.Parse(summary.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) >= 1, $"no fault reached its point:\n{run.Stderr}");
        Assert.Contains("kill -9 dispatcher mid-graph, restart", run.Stdout, StringComparison.Ordinal);
    }

    [GeneratedRegex(@"^faults (\d+), builds (\d+), lost 0, duplicated 0, partial 0, orphans 0$")]
    private static partial Regex Summary();
}
