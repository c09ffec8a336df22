using BuildFarm.Contracts.Builds;
using BuildFarm.Messaging.Routing;
using BuildFarm.Worker.Tests.Farm;

namespace BuildFarm.Worker.Tests.Consuming;

public sealed class LongBuildTests(ShortConsumerTimeoutFarmFixture farm) : IClassFixture<ShortConsumerTimeoutFarmFixture>
{
    /// <summary>
    /// The broker's consumer_timeout is 60 s; the build takes 75 s. Because the worker acks at claim time, the
    /// broker never takes the delivery back: the build starts once and succeeds once.
    /// </summary>
    [Fact]
    public async Task Run_BuildLongerThanConsumerTimeout_CompletesExactlyOnce()
    {
        await using var worker = await farm.StartWorkerAsync("patient", ["long-linux"]);
        await farm.WaitOnlineAsync("patient");
        var request = await TestDerivations.ShellAsync(farm.StoreDir, "long-linux", "/bin/sleep 75; echo done > $out");
        await farm.Publisher.PublishAsync(request, farm.DispatcherKey);
        Assert.IsType<BuildSucceeded>(await farm.Events.WaitForResultAsync(request.BuildId, "the 75 s build", TimeSpan.FromSeconds(120)));
        Assert.Single(farm.Events.OfType<BuildStarted>(), s => s.BuildId == request.BuildId);
        Assert.Single(farm.Events.OfType<BuildSucceeded>(), s => s.BuildId == request.BuildId);
        Assert.Equal(0u, await farm.Publisher.CountAsync(new BuildClass("long-linux", []).QueueName));
        Assert.Equal(0u, await farm.Publisher.CountAsync(BrokerTopology.DeadLetterQueue));
    }
}
