using BuildFarm.Contracts.Builds;
using BuildFarm.Contracts.Workers;
using BuildFarm.Messaging.Routing;
using BuildFarm.Worker.Tests.Farm;

namespace BuildFarm.Worker.Tests.Consuming;

/// <summary>
/// A worker whose sandbox cannot work (its bwrap is a missing file) with AllowUnsandboxed: true, on a real broker:
/// it says so in its heartbeat, takes trusted builds only, and its claims say which executor ran them.
/// </summary>
public sealed class TrustedOnlyTests(FarmFixture farm) : IClassFixture<FarmFixture>
{
    private const string System = "trustonly-linux";

    [Fact]
    public async Task UnsandboxedWorker_TakesOnlyTrustedBuilds_UntrustedOneWaitsForASandboxedWorker()
    {
        var missing = farm.Scratch("no-bwrap") + "/bwrap";
        await using var bare = await TestWorker.StartAsync(farm.Broker.AmqpUri, farm.StoreDir, farm.DispatcherKey.PublicKey, "bare", [System],
            extraSettings: new Dictionary<string, string?> { ["Sandbox:Bwrap"] = missing, ["AllowUnsandboxed"] = "true" });

        var beat = await farm.Events.WaitForAsync<WorkerStatusReported>(s => s.WorkerName == "bare", "first heartbeat of bare");
        Assert.Equal(BuildIsolation.Unsandboxed, beat.Isolation?.Isolation);
        Assert.Contains(missing, beat.Isolation!.Reason, StringComparison.Ordinal);
        Assert.Equal([TrustedRouting.Feature], beat.Capabilities.MandatoryFeatures);
        Assert.False(beat.Paused);

        var untrusted = await TestDerivations.ShellAsync(farm.StoreDir, System, "echo untrusted > $out", name: "untrusted");
        var trusted = await TestDerivations.ShellAsync(farm.StoreDir, System, "echo trusted > $out", name: "trusted") with { Trusted = true };
        await farm.Publisher.PublishAsync(untrusted, farm.DispatcherKey);
        await farm.Publisher.PublishAsync(trusted, farm.DispatcherKey);

        // The trusted build, published after the untrusted one, is taken and built unsandboxed…
        var done = Assert.IsType<BuildSucceeded>(await farm.Events.WaitForResultAsync(trusted.BuildId, "the trusted build on bare"));
        Assert.Equal("bare", done.WorkerName);
        Assert.Equal("trusted\n", File.ReadAllText(Assert.Single(done.Outputs).Path));
        var claim = Assert.Single(farm.Events.OfType<BuildStarted>(), s => s.BuildId == trusted.BuildId);
        Assert.Equal(BuildIsolation.Unsandboxed, claim.Isolation);

        // …while the untrusted one is still in its class queue, never claimed: bare does not consume that class.
        Assert.Equal(1u, await farm.Publisher.CountAsync(new BuildClass(System, []).QueueName));
        Assert.DoesNotContain(farm.Events.OfType<BuildStarted>(), s => s.BuildId == untrusted.BuildId);

        // A sandboxed worker takes it, and its claim says so.
        await using var boxed = await farm.StartWorkerAsync("boxed", [System]);
        var built = Assert.IsType<BuildSucceeded>(await farm.Events.WaitForResultAsync(untrusted.BuildId, "the untrusted build on the sandboxed worker"));
        Assert.Equal("boxed", built.WorkerName);
        Assert.Equal(BuildIsolation.Sandboxed, Assert.Single(farm.Events.OfType<BuildStarted>(), s => s.BuildId == untrusted.BuildId).Isolation);
        var boxedBeat = await farm.Events.WaitForAsync<WorkerStatusReported>(s => s.WorkerName == "boxed", "heartbeat of boxed");
        Assert.Equal(BuildIsolation.Sandboxed, boxedBeat.Isolation?.Isolation);
        Assert.Contains(TrustedRouting.Feature, boxedBeat.Capabilities.SupportedFeatures);
    }
}
