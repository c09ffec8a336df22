using BuildFarm.Contracts.Builds;
using BuildFarm.Contracts.Workers;
using BuildFarm.Messaging.Routing;
using BuildFarm.Store.Local;
using BuildFarm.Store.Paths;
using BuildFarm.Store.Signing;
using BuildFarm.Worker.Consuming;
using BuildFarm.Worker.Tests.Farm;
using Microsoft.Extensions.DependencyInjection;

namespace BuildFarm.Worker.Tests.Consuming;

public sealed class RoutingTests(FarmFixture farm) : IClassFixture<FarmFixture>
{
    [Fact]
    public async Task Run_FourWorkersWithDifferentCapabilities_EachClassOnlyOnCapableWorkers()
    {
        var caps = new Dictionary<string, WorkerCapabilities>
        {
            ["plain"] = new(["x86_64-linux"], [], [], 1, 1),
            ["kvm"] = new(["x86_64-linux"], ["kvm"], [], 1, 1),
            ["bench"] = new(["x86_64-linux"], ["kvm", "big-parallel"], ["benchmark"], 1, 1),
            ["i686"] = new(["i686-linux"], [], [], 1, 1),
        };
        var workers = new List<TestWorker>();
        try
        {
            foreach (var (name, c) in caps)
                workers.Add(await farm.StartWorkerAsync(name, [.. c.Systems], [.. c.SupportedFeatures], [.. c.MandatoryFeatures]));
            foreach (var name in caps.Keys)
                await farm.WaitOnlineAsync(name);

            (string System, string[] Features)[] classes =
            [
                ("x86_64-linux", []), ("x86_64-linux", []), ("x86_64-linux", []),
                ("x86_64-linux", ["kvm"]), ("x86_64-linux", ["kvm"]),
                ("x86_64-linux", ["benchmark", "big-parallel"]), ("x86_64-linux", ["benchmark", "kvm"]),
                ("i686-linux", []), ("i686-linux", []),
            ];
            var requests = new List<BuildDerivation>();
            foreach (var (system, features) in classes)
            {
                var request = await TestDerivations.ShellAsync(farm.StoreDir, system, "echo hi > $out", features);
                requests.Add(request);
                await farm.Publisher.PublishAsync(request, farm.DispatcherKey);
            }

            foreach (var r in requests)
            {
                var result = await farm.Events.WaitForResultAsync(r.BuildId, $"result of {r.System}+{string.Join('+', r.RequiredFeatures)}");
                var ok = Assert.IsType<BuildSucceeded>(result);
                var cls = new BuildClass(r.System, r.RequiredFeatures);
                Assert.True(CapabilityMatcher.CanRun(caps[ok.WorkerName], cls), $"{ok.WorkerName} ran {cls.Key}");
                var started = farm.Events.OfType<BuildStarted>().Where(s => s.BuildId == r.BuildId).ToList();
                Assert.Single(started);
                Assert.Equal(ok.WorkerName, started[0].WorkerName);
                var output = Assert.Single(ok.Outputs);
                Assert.Equal("hi\n", File.ReadAllText(output.Path));
                Assert.StartsWith("sha256:", output.NarHash, StringComparison.Ordinal);
                Assert.Single(output.Signatures);
            }

            // The benchmark-only worker took exactly the benchmark classes, the i686 one exactly the i686 builds.
            var byWorker = farm.Events.OfType<BuildSucceeded>().Where(s => requests.Any(r => r.BuildId == s.BuildId)).ToLookup(s => s.WorkerName);
            Assert.Equal(2, byWorker["bench"].Count());
            Assert.Equal(2, byWorker["i686"].Count());
            Assert.Equal(5, byWorker["plain"].Count() + byWorker["kvm"].Count());
        }
        finally
        {
            foreach (var w in workers)
                await w.DisposeAsync();
        }
    }

    [Fact]
    public async Task Run_FastAndSlowIdleWorkers_FastOneGetsTheBuild()
    {
        await using var slow = await farm.StartWorkerAsync("slow", ["speed-linux"], speed: 1);
        await using var fast = await farm.StartWorkerAsync("fast", ["speed-linux"], speed: 4);
        var trusted = new TrustedKeys([fast.PublicKey]);
        await farm.WaitOnlineAsync("slow");
        await farm.WaitOnlineAsync("fast");
        var fastConsumers = fast.Host.Services.GetRequiredService<BuildQueueConsumer>();
        for (var i = 0; i < 3; i++)
        {
            // Idle means consuming again: after its last result the fast worker resumes its paused consumers.
            await RejectionTests.WaitUntilAsync(() => Task.FromResult(fastConsumers.AllConsuming), $"the fast worker's consumers before speed build {i}");
            var request = await TestDerivations.ShellAsync(farm.StoreDir, "speed-linux", "echo hi > $out");
            await farm.Publisher.PublishAsync(request, farm.DispatcherKey);
            var result = Assert.IsType<BuildSucceeded>(await farm.Events.WaitForResultAsync(request.BuildId, $"speed build {i}"));
            Assert.Equal("fast", result.WorkerName);

            // Registered in the worker's store, and signed over the narinfo fingerprint with the worker's key.
            var output = Assert.Single(result.Outputs);
            var store = await LocalStore.OpenAsync(StoreLayout.Create(farm.StoreDir, null));
            var info = await store.QueryPathInfoAsync(store.ParsePath(output.Path), CancellationToken.None);
            Assert.NotNull(info);
            Assert.Equal(info.NarHash.ToString(), output.NarHash);
            Assert.Equal(info.NarSize, output.NarSize);
            Assert.True(trusted.VerifyAny(info.Fingerprint, output.Signatures).IsValid, "output signature verifies with the worker's key");
            Assert.Contains(output.Signatures[0], info.Signatures);
        }
    }
}
