namespace BuildFarm.Integration.Tests.EndToEnd;

/// <summary>
/// Issue 15 on real processes: a request that waited in its queue longer than the worker's maximum age is refused as
/// stale, and the build is not lost: the dispatcher republishes the same attempt freshly signed and it builds.
/// </summary>
public sealed class StaleRequestTests(EndToEndFarm farm) : IClassFixture<EndToEndFarm>
{
    private const string System = "e2estale-linux";

    [Fact]
    public async Task RequestOlderThanMaxRequestAge_RefusedThenRepublishedFresh_BuildSucceeds()
    {
        var drv = await ShellDerivation.CreateAsync("stale", System, "echo fresh > $out");
        var id = await farm.SubmitAsync(drv, waitForCapacity: true);
        await EndToEndFarm.WaitUntilAsync(async () => (await farm.GetAsync(id)).PublishedAt is not null, TimeSpan.FromSeconds(30), () => "the request to be published");

        // Real time must pass: the copy in the queue has to be older than the smallest maximum age a worker accepts.
        await Task.Delay(TimeSpan.FromSeconds(65));
        using var worker = await farm.StartWorkerAsync(System, "stale-w1", TimeSpan.FromMinutes(1));

        var done = Assert.Single(await farm.WaitFinishedAsync([id], TimeSpan.FromSeconds(120)));
        Assert.Equal(("succeeded", "stale-w1", 1), (done.State, done.Worker, done.Attempt));
        Assert.Contains("Refused expired request", worker.Output, StringComparison.Ordinal);
        Assert.Contains("beyond Freshness:MaxRequestAge", worker.Output, StringComparison.Ordinal);
        Assert.Equal("fresh\n", await File.ReadAllTextAsync(Path.Combine(worker.PhysicalStoreDir, Path.GetFileName(drv.OutPath))));
    }
}
