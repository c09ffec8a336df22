using System.Globalization;
using System.Text.Json;
using BuildFarm.Contracts.Builds;
using BuildFarm.Contracts.Workers;
using BuildFarm.Messaging.Requests;
using BuildFarm.Messaging.Routing;
using BuildFarm.Worker.Tests.Farm;

namespace BuildFarm.Worker.Tests.Consuming;

/// <summary>
/// Workers speak a set of contract versions (<c>ContractVersions</c>, announced in every heartbeat as contract marks):
/// they consume only the queues of those versions, and a request of another version that reaches them anyway is
/// refused with an event naming its build, never dropped.
/// </summary>
public sealed class ContractVersionTests(FarmFixture farm) : IClassFixture<FarmFixture>
{
    private Task<TestWorker> StartAsync(string name, string system, params int[] versions) =>
        TestWorker.StartAsync(farm.Broker.AmqpUri, farm.StoreDir, farm.DispatcherKey.PublicKey, name, [system],
            extraSettings: versions.Select((v, i) => (Key: $"ContractVersions:{i}", Value: (string?)v.ToString(CultureInfo.InvariantCulture)))
                .ToDictionary(x => x.Key, x => x.Value));

    [Fact]
    public async Task Run_RequestOfAVersionTheWorkerDoesNotSpeak_RefusedWithAnInfrastructureFailureAndAcked()
    {
        await using var worker = await StartAsync("speaks-2", "verold-linux");
        var status = await farm.Events.WaitForAsync<WorkerStatusReported>(s => s.WorkerName == "speaks-2", "first heartbeat of speaks-2");
        Assert.Equal([2], ContractRouting.VersionsOf(status.Capabilities));
        var deadBefore = await farm.Publisher.CountAsync(BrokerTopology.DeadLetterQueue);
        var request = await TestDerivations.ShellAsync(farm.StoreDir, "verold-linux", "echo hi > $out");
        var plain = TrustedRouting.ClassOf(request);

        // A version-3 copy on the plain queue: only a wrong route (by hand, a bug) puts it where a version-2 worker consumes.
        await farm.Publisher.PublishRawAsync(plain, JsonSerializer.SerializeToUtf8Bytes(TestPublisher.Sign(request, farm.DispatcherKey, version: 3), MessagingJson.Options));

        var failed = Assert.IsType<BuildFailed>(await farm.Events.WaitForResultAsync(request.BuildId, "the refusal of a version-3 request"));
        Assert.Equal((BuildFailureKind.Infrastructure, request.Attempt, "speaks-2"), (failed.Kind, failed.Attempt, failed.WorkerName));
        Assert.Equal("refused: request contract version 3 is not one this worker speaks (2): upgrade this worker; the dispatcher routes a request only " +
            "to workers that announce its version, so another route put it here", failed.Reason);
        Assert.DoesNotContain(farm.Events.OfType<BuildStarted>(), s => s.BuildId == request.BuildId);
        await RejectionTests.WaitUntilAsync(async () => await farm.Publisher.CountAsync(plain.QueueName) == 0, "the refused copy to leave its queue");
        Assert.Equal(deadBefore, await farm.Publisher.CountAsync(BrokerTopology.DeadLetterQueue));

        var next = await TestDerivations.ShellAsync(farm.StoreDir, "verold-linux", "echo hi > $out");
        await farm.Publisher.PublishAsync(next, farm.DispatcherKey);
        Assert.IsType<BuildSucceeded>(await farm.Events.WaitForResultAsync(next.BuildId, "a version-2 request after the refusal"));
    }

    [Fact]
    public async Task Run_NewerRequest_OnlyTheWorkerThatSpeaksItTakesIt()
    {
        // The old worker is faster: were it consuming the version-3 queue, the broker would prefer it.
        await using var old = await TestWorker.StartAsync(farm.Broker.AmqpUri, farm.StoreDir, farm.DispatcherKey.PublicKey, "old-fast", ["vernew-linux"], speed: 50);
        await using var current = await StartAsync("speaks-2-3", "vernew-linux", 2, 3);
        var status = await farm.Events.WaitForAsync<WorkerStatusReported>(s => s.WorkerName == "speaks-2-3", "first heartbeat of speaks-2-3");
        Assert.Equal([2, 3], ContractRouting.VersionsOf(status.Capabilities));
        await farm.WaitOnlineAsync("old-fast");

        var requests = new List<BuildDerivation>();
        for (var i = 0; i < 3; i++)
        {
            var r = await TestDerivations.ShellAsync(farm.StoreDir, "vernew-linux", $"echo {i} > $out");
            requests.Add(r);
            await farm.Publisher.PublishAsync(r, farm.DispatcherKey, version: 3);
        }

        foreach (var r in requests)
        {
            var done = Assert.IsType<BuildSucceeded>(await farm.Events.WaitForResultAsync(r.BuildId, $"version-3 build {r.BuildId}"));
            Assert.Equal("speaks-2-3", done.WorkerName);
        }

        Assert.DoesNotContain(farm.Events.OfType<BuildFailed>(), f => requests.Any(r => r.BuildId == f.BuildId));
        Assert.DoesNotContain(old.Messages, m => m.Contains("Refused request", StringComparison.Ordinal));
    }
}
