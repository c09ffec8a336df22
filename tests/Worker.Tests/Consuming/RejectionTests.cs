using System.Text.Json;
using BuildFarm.Contracts;
using BuildFarm.Contracts.Builds;
using BuildFarm.Messaging.Requests;
using BuildFarm.Messaging.Routing;
using BuildFarm.Store.Signing;
using BuildFarm.Worker.Tests.Farm;

namespace BuildFarm.Worker.Tests.Consuming;

public sealed class RejectionTests(FarmFixture farm) : IClassFixture<FarmFixture>
{
    [Fact]
    public async Task Run_MalformedUnsignedAndWronglySignedRequests_DeadLetteredWithReasonAndWorkerKeepsServing()
    {
        await using var worker = await farm.StartWorkerAsync("gatekeeper", ["reject-linux"]);
        await farm.WaitOnlineAsync("gatekeeper");
        var cls = new BuildClass("reject-linux", []);
        var before = await farm.Publisher.CountAsync(BrokerTopology.DeadLetterQueue);

        await farm.Publisher.PublishRawAsync(cls, "{ this is not json");
        var unsigned = await TestDerivations.ShellAsync(farm.StoreDir, "reject-linux", "echo hi > $out");
        var json = JsonSerializer.Serialize(unsigned, MessagingJson.Options);
        await farm.Publisher.PublishRawAsync(cls, JsonSerializer.SerializeToUtf8Bytes(new SignedBuildRequest(ContractsInfo.Version, json, "", DateTimeOffset.UtcNow), MessagingJson.Options));
        var forged = await TestDerivations.ShellAsync(farm.StoreDir, "reject-linux", "echo hi > $out");
        var intruder = SigningKey.Generate("dispatcher-test-1"); // same name as the trusted key, different key
        await farm.Publisher.PublishRawAsync(cls, JsonSerializer.SerializeToUtf8Bytes(TestPublisher.Sign(forged, intruder), MessagingJson.Options));

        var valid = await TestDerivations.ShellAsync(farm.StoreDir, "reject-linux", "echo hi > $out");
        await farm.Publisher.PublishAsync(valid, farm.DispatcherKey);
        Assert.IsType<BuildSucceeded>(await farm.Events.WaitForResultAsync(valid.BuildId, "the valid request after three bad ones"));

        await WaitUntilAsync(async () => await farm.Publisher.CountAsync(BrokerTopology.DeadLetterQueue) == before + 3, "three messages in buildfarm.dead-letters");
        var messages = worker.Messages.Where(m => m.Contains("Dead-lettered", StringComparison.Ordinal)).ToList();
        Assert.Equal(3, messages.Count);
        Assert.Contains(messages, m => m.Contains("not a SignedBuildRequest JSON document", StringComparison.Ordinal));
        Assert.Contains(messages, m => m.Contains("unsigned", StringComparison.Ordinal));
        Assert.Contains(messages, m => m.Contains("bad signature", StringComparison.Ordinal));
        Assert.DoesNotContain(farm.Events.OfType<BuildStarted>(), s => s.BuildId == unsigned.BuildId || s.BuildId == forged.BuildId);
    }

    [Fact]
    public async Task Run_SignedRequestForWrongStore_DeadLetteredAndReportedRejected()
    {
        await using var worker = await farm.StartWorkerAsync("store-check", ["wrongstore-linux"]);
        await farm.WaitOnlineAsync("store-check");
        var request = await TestDerivations.ShellAsync("/elsewhere/store", "wrongstore-linux", "echo hi > $out");
        await farm.Publisher.PublishAsync(request, farm.DispatcherKey);
        var failed = Assert.IsType<BuildFailed>(await farm.Events.WaitForResultAsync(request.BuildId, "rejection of a request for another store"));
        Assert.Equal(BuildFailureKind.Rejected, failed.Kind);
        Assert.Contains("/elsewhere/store", failed.Reason, StringComparison.Ordinal);
    }

    internal static async Task WaitUntilAsync(Func<Task<bool>> condition, string what, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(30));
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"waited {timeout ?? TimeSpan.FromSeconds(30)} for {what}");
            await Task.Delay(200);
        }
    }
}
