using System.Text.Json;
using BuildFarm.Contracts.Builds;
using BuildFarm.Messaging.Broker;
using BuildFarm.Messaging.Requests;
using BuildFarm.Messaging.Routing;
using RabbitMQ.Client;

namespace BuildFarm.Integration.Tests.EndToEnd;

/// <summary>
/// Issue 16 §3 on real processes: a dispatcher and workers one contract version apart. The newer release is simulated
/// by <c>ContractVersions</c> (dispatcher and worker) naming version 3: requests of it are routed by the contract mark,
/// so only workers that announce it consume them.
/// </summary>
public sealed class UpgradeTests
{
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(180);

    /// <summary>A lease long enough that a loaded machine's late heartbeat never costs an attempt: this test kills no worker.</summary>
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task OldWorker_DispatcherWritesOnlyTheNewerVersion_EveryBuildRunsOnTheCurrentWorker()
    {
        using var farm = new EndToEndFarm(Lease, new Dictionary<string, string?> { ["Dispatcher:ContractVersions:0"] = "3" });
        await farm.InitializeAsync();
        try
        {
            using var old = await farm.StartWorkerAsync("e2ever-linux", "ver-old", [2], slots: 2);
            using var current = await farm.StartWorkerAsync("e2ever-linux", "ver-current", [2, 3], slots: 2);
            Assert.Equal([2], (await farm.WorkerAsync("ver-old"))!.ContractVersions);
            Assert.Equal([2, 3], (await farm.WorkerAsync("ver-current"))!.ContractVersions);

            var ids = new List<Guid>();
            for (var i = 0; i < 6; i++)
                ids.Add(await farm.SubmitAsync(await ShellDerivation.CreateAsync($"ver-{i}", "e2ever-linux", $"echo {i} > $out")));

            var views = await farm.WaitFinishedAsync(ids, Generous);
            Assert.All(views, v => Assert.Equal(("succeeded", "ver-current", 1), (v.State, v.Worker, v.Attempt)));
            Assert.All(views, v => Assert.DoesNotContain(v.Attempts, a => a.Worker == "ver-old"));
            Assert.DoesNotContain("Refused request", old.Output, StringComparison.Ordinal);
        }
        finally
        {
            await farm.DisposeAsync();
        }
    }

    /// <summary>
    /// Only a wrong route puts a request where no worker speaks its version: simulated by replacing the published copy
    /// in the plain queue with a validly signed version-3 copy. The worker refuses it with a failure naming the version,
    /// the dispatcher publishes the next attempt at a version the workers speak, and the build succeeds.
    /// </summary>
    [Fact]
    public async Task RequestOfAVersionNoWorkerSpeaks_RefusedWithTheReason_RebuiltAsTheNextAttempt()
    {
        using var farm = new EndToEndFarm(Lease);
        await farm.InitializeAsync();
        try
        {
            const string System = "e2emis-linux";
            var drv = await ShellDerivation.CreateAsync("misrouted", System, "echo rebuilt > $out");
            var id = await farm.SubmitAsync(drv, waitForCapacity: true);
            await EndToEndFarm.WaitUntilAsync(async () => (await farm.GetAsync(id)).PublishedAt is not null, Generous, () => "the request to be published");
            var plain = new BuildClass(System, []);
            var connection = await BrokerConnections.ConnectAsync(new BrokerOptions { Uri = farm.BrokerUri }, "upgrade test", 5, CancellationToken.None);
            await using (connection)
            {
                await using var channel = await connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true));
                Assert.Equal(1u, await channel.QueuePurgeAsync(plain.QueueName));
                var request = new BuildDerivation(id, 1, drv.DrvPath, drv.DrvText, "/nix/store", System, [], [], ["out"], null,
                    new BuildLimits(TimeSpan.Zero, TimeSpan.Zero), 0, DateTimeOffset.UtcNow);
                var json = JsonSerializer.Serialize(request, MessagingJson.Options);
                var copy = new SignedBuildRequest(3, json, farm.DispatcherKey.Sign(SignedBuildRequest.SignedText(request.RequestedAt, json)), request.RequestedAt);
                await channel.BasicPublishAsync(BrokerTopology.BuildExchange, plain.Key, mandatory: true, new BasicProperties { Persistent = true },
                    JsonSerializer.SerializeToUtf8Bytes(copy, MessagingJson.Options));
            }

            using var worker = await farm.StartWorkerAsync(System, "mis-2", [2]);

            var view = Assert.Single(await farm.WaitFinishedAsync([id], Generous));
            Assert.Equal(("succeeded", "mis-2", 2), (view.State, view.Worker, view.Attempt));
            var refused = Assert.Single(view.Attempts, a => a.Attempt == 1);
            Assert.Equal(("mis-2", "Infrastructure"), (refused.Worker, refused.Outcome));
            Assert.StartsWith("refused: request contract version 3 is not one this worker speaks (2)", refused.Reason, StringComparison.Ordinal);
            Assert.Equal(drv.OutPath, Assert.Single(view.Outputs).Path);
        }
        finally
        {
            await farm.DisposeAsync();
        }
    }

    /// <summary>
    /// The documented procedure: the dispatcher is upgraded first (it writes 2 and 3), then each worker in turn is
    /// drained with SIGTERM, waited for, and started again as the new release, while builds are submitted all along.
    /// Every build ends succeeded on its first attempt: nothing lost, nothing claimed twice.
    /// </summary>
    [Fact]
    public async Task RollingUpgradeOfWorkers_UnderLoad_LosesNothingAndDuplicatesNothing()
    {
        using var farm = new EndToEndFarm(Lease, new Dictionary<string, string?>
        {
            ["Dispatcher:ContractVersions:0"] = "2",
            ["Dispatcher:ContractVersions:1"] = "3",
        });
        await farm.InitializeAsync();
        const string System = "e2eroll-linux";
        string[] names = ["roll-a", "roll-b", "roll-c"];
        var workers = new Dictionary<string, RealWorker>();
        var ids = new List<Guid>();
        using var stop = new CancellationTokenSource();
        try
        {
            foreach (var n in names)
                workers[n] = await farm.StartWorkerAsync(System, n, [2], slots: 2);

            var submitted = 0;
            async Task SubmitOneAsync()
            {
                var i = Interlocked.Increment(ref submitted);
                var drv = await ShellDerivation.CreateAsync($"roll-{i}", System, $"/bin/sleep 1; echo {i} > $out");
                var id = await farm.SubmitAsync(drv);
                lock (ids)
                    ids.Add(id);
            }

            for (var i = 0; i < 8; i++)
                await SubmitOneAsync();
            var load = Task.Run(async () =>
            {
                while (!stop.IsCancellationRequested)
                {
                    await SubmitOneAsync();
                    await Task.Delay(TimeSpan.FromMilliseconds(400), CancellationToken.None);
                }
            }, CancellationToken.None);

            foreach (var n in names)
            {
                var old = workers[n];
                await old.SignalAsync("TERM");
                Assert.Equal(0, await old.WaitForExitAsync(Generous));
                old.Dispose();
                workers.Remove(n);
                workers[n] = await farm.StartWorkerAsync(System, n, [2, 3], slots: 2);
                // The old process's last heartbeat may still be in flight: wait for the new one's announcement.
                await EndToEndFarm.WaitUntilAsync(async () => (await farm.WorkerAsync(n))?.ContractVersions is [2, 3], Generous,
                    () => $"{n} to announce contract versions 2 and 3");
            }

            // Every worker is upgraded: builds keep flowing, now at version 3.
            await Task.Delay(TimeSpan.FromSeconds(3));
            await stop.CancelAsync();
            await load;
            for (var i = 0; i < 4; i++)
                await SubmitOneAsync();

            Guid[] all;
            lock (ids)
                all = [.. ids];
            var views = await farm.WaitFinishedAsync(all, Generous);
            var lost = views.Where(v => v.State != "succeeded").Select(v => $"{v.Id} {v.State}: {v.FailureReason}").ToArray();
            var duplicated = views.Where(v => v.Attempt != 1 || v.Attempts.Count != 1)
                .Select(v => $"{v.Id}: {string.Join("; ", v.Attempts.Select(a => $"attempt {a.Attempt} on {a.Worker}: {a.Outcome} {a.Reason}"))}").ToArray();
            Assert.True(lost.Length == 0, $"lost {lost.Length} of {views.Count}: {string.Join(" | ", lost)}");
            Assert.True(duplicated.Length == 0, $"retried or claimed twice {duplicated.Length} of {views.Count}: {string.Join(" | ", duplicated)}");
            Assert.True(views.Count >= 20, $"only {views.Count} builds flowed during the upgrade");
            Assert.All(views, v => Assert.Contains(v.Worker, names));
            var outputs = views.Select(v => Assert.Single(v.Outputs).Path).ToArray();
            Assert.Equal(outputs.Length, outputs.Distinct(StringComparer.Ordinal).Count());
            Assert.Equal(names.Length, (await Task.WhenAll(names.Select(farm.WorkerAsync))).Count(w => w is { Online: true, ContractVersions: [2, 3] }));
        }
        finally
        {
            await stop.CancelAsync();
            foreach (var w in workers.Values)
                w.Dispose();
            await farm.DisposeAsync();
        }
    }
}
