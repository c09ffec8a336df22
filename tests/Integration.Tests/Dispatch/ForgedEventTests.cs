using System.Net.Http.Json;
using BuildFarm.Contracts.Builds;
using BuildFarm.Contracts.Workers;
using BuildFarm.Dispatcher.Api;
using BuildFarm.Integration.Tests.Offload;
using BuildFarm.Messaging.Broker;
using BuildFarm.Messaging.Signing;
using BuildFarm.Store.Signing;
using MassTransit;

namespace BuildFarm.Integration.Tests.Dispatch;

/// <summary>The dispatcher reads its own log file: no other dispatcher host may replace Serilog's static logger meanwhile.</summary>
[CollectionDefinition(nameof(DispatcherLogReaders), DisableParallelization = true)]
public sealed class DispatcherLogReaders;

/// <summary>
/// Against a real broker: anyone who can publish events (a stolen worker, leaked broker credentials) cannot speak for
/// another worker. Forged results and log lines naming a worker are dropped and logged; its real build finishes.
/// </summary>
[Collection(nameof(DispatcherLogReaders))]
public sealed class ForgedEventTests(DispatcherFixture farm) : IClassFixture<DispatcherFixture>
{
    [Fact]
    public async Task ForgedBuildFailedAndLogLinesNamingAnotherWorker_DroppedAndLogged_RealBuildFinishes()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var victimKey = farm.TrustNewWorkerKey("victim");
        await using var victim = new FakeWorker("victim", new WorkerCapabilities(["forge-linux"], [], [], 1, 1), farm.Broker.AmqpUri, victimKey) { Gate = gate };
        await victim.StartAsync(CancellationToken.None);
        var stolen = farm.TrustNewWorkerKey("mallory"); // a trusted worker's key, in an attacker's hands
        var id = await farm.SubmitOkAsync(DispatcherFixture.DrvText("forge-target", "forge-linux"), waitForCapacity: true);
        await WaitAsync(async () => (await farm.GetAsync(id)).State == "running", "the victim to claim the build");

        var bus = Bus.Factory.CreateUsingRabbitMq(cfg => cfg.ConfigureHost(new BrokerOptions { Uri = farm.Broker.AmqpUri }, "attacker"));
        await bus.StartAsync();
        try
        {
            var now = DateTimeOffset.UtcNow;
            var failed = new BuildFailed(id, 1, "victim", BuildFailureKind.BuildFailure, 1, "forged failure", "", now);
            await bus.Publish(failed);
            await bus.Publish(MessageSignatures.Sign(failed, stolen));
            await bus.Publish(MessageSignatures.Sign(failed with { Reason = "genuine" }, victimKey) with { Reason = "forged failure" });
            await bus.Publish(new BuildLogEmitted(id, 1, "victim", 90, "FORGED unsigned line\n"));
            await bus.Publish(MessageSignatures.Sign(new BuildLogEmitted(id, 1, "victim", 91, "FORGED line, key of the same name\n"), SigningKey.Generate(victimKey.Name)));
            await bus.Publish(MessageSignatures.Sign(new BuildLogEmitted(id, 1, "victim", 92, "FORGED line, stolen key\n"), stolen));

            List<System.Text.Json.JsonElement> dropped = [];
            await WaitAsync(() =>
            {
                dropped = CompactJsonLog.Read(farm.LogFile).Where(e => e.Template().StartsWith("Dropped {EventType}", StringComparison.Ordinal)).ToList();
                return Task.FromResult(dropped.Count >= 6);
            }, "six 'Dropped' entries in the dispatcher's log");
            Assert.All(dropped, e => Assert.Equal("victim", e.GetProperty("Worker").GetString()));
            var reasons = dropped.Select(e => e.GetProperty("Reason").GetString()!).ToList();
            Assert.Equal(2, reasons.Count(r => r.StartsWith("unsigned", StringComparison.Ordinal)));
            Assert.Equal(2, reasons.Count(r => r.Contains("is bound to key 'victim-1', still trusted; key 'mallory-1' may not speak for it", StringComparison.Ordinal)));
            Assert.Equal(2, reasons.Count(r => r.Contains("bad signature by 'victim-1'", StringComparison.Ordinal)));
            Assert.Equal("running", (await farm.GetAsync(id)).State);
        }
        finally
        {
            await bus.StopAsync();
        }

        gate.SetResult();
        var view = Assert.Single(await farm.WaitFinishedAsync([id], TimeSpan.FromSeconds(30)));
        Assert.Equal(("succeeded", "victim"), (view.State, view.Worker));
        var log = (await farm.Http.GetFromJsonAsync<LogView>($"api/builds/{id}/log"))!;
        Assert.NotEmpty(log.Chunks);
        Assert.DoesNotContain(log.Chunks, c => c.Text.Contains("FORGED", StringComparison.Ordinal));
    }

    private static async Task WaitAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"waited 30 s for {what}");
            await Task.Delay(100);
        }
    }
}
