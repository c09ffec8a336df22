namespace BuildFarm.Integration.Tests.Offload;

/// <summary>
/// One build followed across processes in the machine logs: the dispatcher's and the building worker's compact JSON
/// files carry the same <c>BuildId</c> property (plus the derivation and attempt), as an operator would grep them.
/// </summary>
[Collection(OffloadFarmDefinition.Name)]
public sealed class LogCorrelationTests(OffloadFarmFixture farm)
{
    [Fact]
    public async Task JsonLogs_OneBuild_FollowedAcrossDispatcherAndWorkerByBuildId()
    {
        var (_, drv) = await farm.PrepareAsync("marked", salt: "follow-logs");

        var result = await farm.BuildAsync([drv]);

        Assert.True(result.ExitCode == 0, result.Stderr + farm.DiagnosticText());
        var build = (await farm.BuildsAsync()).Single(b => b.DrvPath == drv);
        var id = build.Id.ToString();
        var worker = new[] { farm.W1, farm.W2 }.Single(w => w.Name == build.Worker);
        var dispatcher = CompactJsonLog.Read(farm.DispatcherJsonLog).With("BuildId", id).ToList();
        var built = worker.LogEvents().With("BuildId", id).ToList();

        Assert.Contains(dispatcher, e => e.Template().Contains("queued for class", StringComparison.Ordinal));
        Assert.Contains(dispatcher, e => e.Template().Contains("started on {Worker}", StringComparison.Ordinal) && e.GetProperty("Worker").GetString() == worker.Name);
        Assert.Contains(dispatcher, e => e.Template().Contains("succeeded on {Worker}", StringComparison.Ordinal) && e.GetProperty("Attempt").GetInt32() == 1);
        Assert.Contains(built, e => e.Template().StartsWith("Building {DrvPath}", StringComparison.Ordinal));
        Assert.Contains(built, e => e.Template().StartsWith("Built {DrvPath}", StringComparison.Ordinal));
        Assert.All(built, e => Assert.Equal((drv, 1), (e.GetProperty("DrvPath").GetString(), e.GetProperty("Attempt").GetInt32())));
    }
}
