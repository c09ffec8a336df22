namespace BuildFarm.Integration.Tests.Offload;

/// <summary>An origin outage during a transfer, a failing builder, a build over its timeout, an output that is a symlink to /.</summary>
[Collection(OffloadFarmDefinition.Name)]
public sealed class FailureTests(OffloadFarmFixture farm)
{
    [Fact]
    public async Task Pull_SshdStoppedForTenSecondsDuringTransfer_BuildSucceedsAfterLoggedRetries()
    {
        await farm.EnsureChainBuiltAsync();
        var (graph, drv) = await farm.PrepareAsync("routed", feature: "outage");
        var reference = await graph.ReferenceHashesAsync([drv]);
        var output = reference.Keys.Single(p => p.EndsWith("-routed-outage", StringComparison.Ordinal));
        using var worker = farm.StartWorker("outage", ["outage"]);
        await farm.WaitOnlineAsync(worker);
        farm.Origin.Arm("hold-export");

        var build = farm.BuildAsync([drv]);
        await farm.Origin.WaitExportHeldAsync(TimeSpan.FromSeconds(120));
        await farm.Sshd.StopForAsync(TimeSpan.FromSeconds(10));
        var result = await build;

        Assert.True(result.ExitCode == 0, result.Stderr + farm.DiagnosticText());
        Assert.Equal(reference[output], (await farm.Origin.ReadContentsAsync()).ValidPaths[output]);
        var retries = worker.LogEvents()
            .Where(e => e.TryGetProperty("@mt", out var mt) && mt.GetString()!.Contains("retr", StringComparison.OrdinalIgnoreCase))
            .ToArray();
        Assert.True(retries.Length > 0, "no retry in the worker's log:\n" + worker.Process.Output);
    }

    [Fact]
    public async Task Build_FailingBuilder_Exits100AndShowsItsLog()
    {
        var (_, drv) = await farm.PrepareAsync("failing");

        var result = await farm.BuildAsync([drv]);

        Assert.True(result.ExitCode == 100, $"exit {result.ExitCode}:\n{result.Stderr}");
        Assert.Contains("failing builder: about to exit 3", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Build_ExceedingItsTimeout_Exits101()
    {
        var (_, drv) = await farm.PrepareAsync("slow");

        var result = await farm.BuildAsync([drv], "--timeout", "5");

        Assert.True(result.ExitCode == 101, $"exit {result.ExitCode}:\n{result.Stderr}");
        Assert.Contains("slow builder: sleeping", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Build_OutputIsASymlinkToTheRoot_SucceedsWithNixsNarHashAtTheOrigin()
    {
        // Before, the worker's NAR writer followed the link and threw; the build ended "worker not heard from".
        var (graph, drv) = await farm.PrepareAsync("to-root");
        var reference = await graph.ReferenceHashesAsync([drv]);
        var output = Assert.Single(reference.Keys, p => p.EndsWith("-to-root", StringComparison.Ordinal));

        var result = await farm.BuildAsync([drv]);

        Assert.True(result.ExitCode == 0, result.Stderr + farm.DiagnosticText());
        var origin = await farm.Origin.ReadContentsAsync();
        Assert.Equal(reference[output], origin.ValidPaths[output]);
        Assert.Equal("/", new FileInfo(farm.Origin.Root + output).LinkTarget);
        Assert.DoesNotContain(origin.Entries, e => e.StartsWith(".tmp-", StringComparison.Ordinal));
    }
}
