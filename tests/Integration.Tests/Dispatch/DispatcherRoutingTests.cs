using System.Net;
using BuildFarm.Contracts.Workers;
using BuildFarm.Dispatcher.Api;
using BuildFarm.Messaging.Routing;
using System.Net.Http.Json;

namespace BuildFarm.Integration.Tests.Dispatch;

/// <summary>The dispatcher against a real broker, with stand-in workers (see <see cref="FakeWorker"/>).</summary>
public sealed class DispatcherRoutingTests(DispatcherFixture farm) : IClassFixture<DispatcherFixture>
{
    [Fact]
    public async Task Submit_BuildsOfEveryClass_RunOnlyOnCapableWorkersExactlyOnce()
    {
        var uri = farm.Broker.AmqpUri;
        await using var plain = new FakeWorker("plain", new WorkerCapabilities(["x86_64-linux"], [], [], 2, 1), uri);
        await using var kvm = new FakeWorker("kvm", new WorkerCapabilities(["x86_64-linux"], ["kvm"], [], 2, 1), uri);
        await using var bench = new FakeWorker("bench", new WorkerCapabilities(["x86_64-linux"], ["kvm", "big-parallel"], ["benchmark"], 2, 1), uri);
        await using var i686 = new FakeWorker("i686", new WorkerCapabilities(["i686-linux"], [], [], 2, 1), uri);
        FakeWorker[] workers = [plain, kvm, bench, i686];
        foreach (var w in workers)
            await w.StartAsync(CancellationToken.None);
        await WaitWorkersAsync(workers);

        var wanted = new (string System, string[] Features)[]
        {
            ("x86_64-linux", []), ("x86_64-linux", ["kvm"]), ("x86_64-linux", ["benchmark"]),
            ("x86_64-linux", ["benchmark", "big-parallel", "kvm"]), ("i686-linux", []),
        };
        var ids = new List<Guid>();
        for (var i = 0; i < 4; i++)
        {
            foreach (var (system, features) in wanted)
                ids.Add(await farm.SubmitOkAsync(DispatcherFixture.DrvText($"route-{i}-{system}-{string.Join('-', features)}", system, features)));
        }

        var views = await farm.WaitFinishedAsync(ids, TimeSpan.FromSeconds(90));
        Assert.All(views, v => Assert.Equal("succeeded", v.State));
        var claims = workers.SelectMany(w => w.Claimed.Select(c => (Worker: w, Request: c))).ToArray();
        foreach (var id in ids)
        {
            // Exactly once per attempt. A second attempt exists only when the first one's lease ran out (a slow
            // heartbeat under load): the dispatcher then records the first as lost, never as a second success.
            var view = views.Single(v => v.Id == id);
            var mine = claims.Where(c => c.Request.BuildId == id).ToArray();
            Assert.Equal(mine.Length, mine.Select(c => c.Request.Attempt).Distinct().Count());
            foreach (var claim in mine)
            {
                Assert.True(CapabilityMatcher.CanRun(claim.Worker.Capabilities, new BuildClass(claim.Request.System, claim.Request.RequiredFeatures)),
                    $"{claim.Worker.Name} ran {claim.Request.System} {string.Join(',', claim.Request.RequiredFeatures)}");
            }

            var final = Assert.Single(mine, c => c.Request.Attempt == view.Attempt);
            Assert.Equal(final.Worker.Name, view.Worker);
            Assert.Single(view.Attempts, a => a.Outcome == "succeeded");
            Assert.All(view.Attempts.Where(a => a.Attempt < view.Attempt), a => Assert.NotEqual("succeeded", a.Outcome));
        }

        // Nothing that kvm-only or plain may not take reached them: every benchmark build went to bench.
        Assert.All(views.Where(v => v.Features.Contains("benchmark")), v => Assert.Equal("bench", v.Worker));
    }

    /// <summary>
    /// Events are handled concurrently across builds but in order within one: a worker that publishes its claim,
    /// many log chunks and its result back to back gets them applied in that order.
    /// </summary>
    [Fact]
    public async Task Events_ClaimLogChunksAndResultBackToBack_AppliedInOrderPerBuild()
    {
        await using var chatty = new FakeWorker("chatty", new WorkerCapabilities(["sparc64-linux"], [], [], 8, 1), farm.Broker.AmqpUri) { LogChunks = 40 };
        await chatty.StartAsync(CancellationToken.None);
        await WaitWorkersAsync(chatty);
        var ids = new List<Guid>();
        for (var i = 0; i < 8; i++)
            ids.Add(await farm.SubmitOkAsync(DispatcherFixture.DrvText($"chatty-{i}", "sparc64-linux")));

        var views = await farm.WaitFinishedAsync(ids, TimeSpan.FromSeconds(90));
        foreach (var view in views)
        {
            Assert.Equal(("succeeded", "chatty", 1), (view.State, view.Worker, view.Attempt));
            var attempt = Assert.Single(view.Attempts);
            Assert.Equal("succeeded", attempt.Outcome);
            var log = (await farm.Http.GetFromJsonAsync<LogView>($"api/builds/{view.Id}/log"))!;
            Assert.Equal(string.Concat(Enumerable.Range(1, 40).Select(n => $"chunk {n} of {view.Id}\n")), string.Concat(log.Chunks.Select(c => c.Text)));
        }
    }

    [Fact]
    public async Task Submit_NoMachineCanBuildIt_RefusedAtOnceNamingMachines()
    {
        await using var plain = new FakeWorker("refusal-plain", new WorkerCapabilities(["x86_64-linux"], [], [], 1, 1), farm.Broker.AmqpUri);
        await plain.StartAsync(CancellationToken.None);
        await WaitWorkersAsync(plain);
        using var response = await farm.SubmitAsync(DispatcherFixture.DrvText("impossible", "aarch64-darwin", "gpu"));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        var error = (await response.Content.ReadFromJsonAsync<ErrorResponse>())!.Error;
        Assert.Contains("no machine can build system aarch64-darwin with required features {gpu}", error, StringComparison.Ordinal);
        Assert.Contains("refusal-plain (systems x86_64-linux", error, StringComparison.Ordinal);

        var waiting = await farm.SubmitOkAsync(DispatcherFixture.DrvText("impossible-wait", "aarch64-darwin", "gpu"), waitForCapacity: true);
        Assert.Equal("waiting: no capable worker online", (await farm.GetAsync(waiting)).WaitingReason);
        Assert.True((await farm.Http.PostAsync(new Uri($"api/builds/{waiting}/cancel", UriKind.Relative), null)).IsSuccessStatusCode);
    }

    [Fact]
    public async Task Lease_WorkerGoesSilentMidBuild_BuildCompletesElsewhereAsNextAttempt()
    {
        var caps = new WorkerCapabilities(["riscv64-linux"], [], [], 1, 1);
        await using var dying = new FakeWorker("dying", caps, farm.Broker.AmqpUri) { Hang = true };
        await dying.StartAsync(CancellationToken.None);
        await WaitWorkersAsync(dying);
        var id = await farm.SubmitOkAsync(DispatcherFixture.DrvText("lease", "riscv64-linux"));
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (dying.Claimed.IsEmpty)
        {
            Assert.True(DateTime.UtcNow < deadline, "waited 30 s for the dying worker to claim the build");
            await Task.Delay(100);
        }

        await using var healthy = new FakeWorker("healthy", caps, farm.Broker.AmqpUri);
        await healthy.StartAsync(CancellationToken.None);
        var view = Assert.Single(await farm.WaitFinishedAsync([id], TimeSpan.FromSeconds(60)));
        Assert.Equal(("succeeded", "healthy", 2), (view.State, view.Worker, view.Attempt));
        Assert.Contains(view.Attempts, a => a.Worker == "dying" && a.Outcome == "lost" && a.Reason!.Contains("worker dying not heard from since", StringComparison.Ordinal));
    }

    private async Task WaitWorkersAsync(params FakeWorker[] workers)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        var names = workers.Select(w => w.Name).ToHashSet();
        while ((await farm.Http.GetFromJsonAsync<List<WorkerView>>("api/workers"))!.Count(w => w.Online && names.Contains(w.Name)) < names.Count)
        {
            Assert.True(DateTime.UtcNow < deadline, $"waited 30 s for workers {string.Join(", ", names)} to report online");
            await Task.Delay(100);
        }
    }
}
