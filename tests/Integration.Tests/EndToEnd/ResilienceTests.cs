using System.Globalization;
using BuildFarm.Dispatcher.Api;
using BuildFarm.Testing;

namespace BuildFarm.Integration.Tests.EndToEnd;

/// <summary>
/// Failures of real processes: the published worker executable killed or signalled mid-build, the RabbitMQ node
/// restarted mid-run. The dispatcher's record (its API) is what the assertions read, plus the workers' stores.
/// (SIGTERM alone — drain, finish, exit 0 — is covered against the same executable in Worker.Tests SignalTests.)
/// </summary>
public sealed class ResilienceTests(EndToEndFarm farm) : IClassFixture<EndToEndFarm>
{
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(120);

    [Fact]
    public async Task KillMinus9_WorkerMidBuild_BuildCompletesOnOtherWorker()
    {
        using var scratch = BuilderScratch.Create("e2e-kill");
        var workers = await farm.StartWorkersAsync("e2ekill-linux", "kill-a", "kill-b");
        var builder = new FirstAttemptHangs(scratch.Combine("marker"));
        try
        {
            var drv = await ShellDerivation.CreateAsync("kill-me", "e2ekill-linux", builder.Script);
            var id = await farm.SubmitAsync(drv);
            var running = await farm.WaitRunningAsync(id, Generous);
            await builder.WaitStartedAsync();
            var victim = workers.Single(w => w.Name == running.Worker);
            var survivor = workers.Single(w => w.Name != running.Worker);

            victim.KillMinus9();

            var view = Assert.Single(await farm.WaitFinishedAsync([id], Generous));
            Assert.Equal(("succeeded", survivor.Name, 2), (view.State, view.Worker, view.Attempt));
            Assert.Collection(view.Attempts.OrderBy(a => a.Attempt),
                a => Assert.Equal((1, victim.Name, "lost"), (a.Attempt, a.Worker, a.Outcome)),
                a => Assert.Equal((2, survivor.Name, "succeeded"), (a.Attempt, a.Worker, a.Outcome)));
            Assert.Equal(drv.OutPath, Assert.Single(view.Outputs).Path);
            Assert.Equal("done\n", await File.ReadAllTextAsync(Path.Combine(survivor.PhysicalStoreDir, Path.GetFileName(drv.OutPath))));
        }
        finally
        {
            builder.KillOrphan();
            foreach (var w in workers)
                w.Dispose();
        }
    }

    [Fact]
    public async Task SigtermTwice_WorkerMidBuild_AbortsAndBuildGoesElsewhereAtOnce()
    {
        using var scratch = BuilderScratch.Create("e2e-abort");
        var workers = await farm.StartWorkersAsync("e2eabort-linux", "abort-a", "abort-b");
        var builder = new FirstAttemptHangs(scratch.Combine("marker"));
        try
        {
            var drv = await ShellDerivation.CreateAsync("abort-me", "e2eabort-linux", builder.Script);
            var id = await farm.SubmitAsync(drv);
            var running = await farm.WaitRunningAsync(id, Generous);
            var builderPid = await builder.WaitStartedAsync();
            var victim = workers.Single(w => w.Name == running.Worker);
            var survivor = workers.Single(w => w.Name != running.Worker);

            // First SIGTERM: the worker drains (the dispatcher sees it), the running build keeps running there.
            await victim.SignalAsync("TERM");
            await EndToEndFarm.WaitUntilAsync(async () => (await farm.WorkerAsync(victim.Name))?.Draining == true, Generous,
                () => $"the dispatcher to see {victim.Name} draining");
            Assert.Equal(("running", victim.Name, 1), ((await farm.GetAsync(id)).State, (await farm.GetAsync(id)).Worker, (await farm.GetAsync(id)).Attempt));

            // Second SIGTERM: abort. The worker reports an infrastructure failure, so the dispatcher republishes
            // at once (attempt 1 is closed as Infrastructure, not left to expire as "lost").
            await victim.SignalAsync("TERM");
            var view = Assert.Single(await farm.WaitFinishedAsync([id], Generous));
            Assert.Equal(("succeeded", survivor.Name, 2), (view.State, view.Worker, view.Attempt));
            var first = Assert.Single(view.Attempts, a => a.Attempt == 1);
            Assert.Equal((victim.Name, "Infrastructure", "worker aborted"), (first.Worker, first.Outcome, first.Reason));
            Assert.Equal("done\n", await File.ReadAllTextAsync(Path.Combine(survivor.PhysicalStoreDir, Path.GetFileName(drv.OutPath))));

            await victim.WaitForExitAsync(Generous);
            await EndToEndFarm.WaitUntilAsync(() => Task.FromResult(!FirstAttemptHangs.IsAlive(builderPid)), TimeSpan.FromSeconds(30),
                () => $"the aborted builder (pid {builderPid}) to be gone");
        }
        finally
        {
            builder.KillOrphan();
            foreach (var w in workers)
                w.Dispose();
        }
    }

    /// <summary>
    /// The worker's only slot frees while the broker is down, so its consumers cannot be started then: they must
    /// start once the connection is recovered, or the builds still queued would wait for ever.
    /// </summary>
    [Fact]
    public async Task BrokerDown_SlotFreesDuringOutage_WorkerConsumesAfterRecovery()
    {
        var workers = await farm.StartWorkersAsync("e2eoutage-linux", "outage-a");
        try
        {
            var first = await ShellDerivation.CreateAsync("outage-first", "e2eoutage-linux", "/bin/sleep 3; echo first > $out");
            var queued = new List<ShellDerivation>();
            for (var i = 0; i < 2; i++)
                queued.Add(await ShellDerivation.CreateAsync($"outage-{i}", "e2eoutage-linux", $"echo {i} > $out"));
            var firstId = await farm.SubmitAsync(first);
            await farm.WaitRunningAsync(firstId, Generous);
            var ids = new List<Guid> { firstId };
            foreach (var drv in queued)
                ids.Add(await farm.SubmitAsync(drv));

            await farm.Broker.StopAsync();
            // The 3 s build ends while the node is down: its slot frees with no broker to consume from.
            await Task.Delay(TimeSpan.FromSeconds(6));
            await farm.Broker.StartAsync();

            var views = await farm.WaitFinishedAsync(ids, TimeSpan.FromSeconds(180));
            Assert.All(views, v => Assert.True(v.State == "succeeded", $"{v.Id}: {v.State} {v.FailureKind} {v.FailureReason}"));
            var store = workers[0].PhysicalStoreDir;
            for (var i = 0; i < queued.Count; i++)
                Assert.Equal(i.ToString(CultureInfo.InvariantCulture) + "\n", await File.ReadAllTextAsync(Path.Combine(store, Path.GetFileName(queued[i].OutPath))));
        }
        finally
        {
            foreach (var w in workers)
                w.Dispose();
        }
    }

    [Fact]
    public async Task BrokerRestart_MidRun_QueuedBuildsComplete()
    {
        var workers = await farm.StartWorkersAsync("e2erestart-linux", "restart-a", "restart-b");
        try
        {
            var drvs = new List<ShellDerivation>();
            for (var i = 0; i < 6; i++)
                drvs.Add(await ShellDerivation.CreateAsync($"restart-{i}", "e2erestart-linux", $"/bin/sleep 2; echo {i} > $out"));
            var ids = new List<Guid>();
            foreach (var drv in drvs)
                ids.Add(await farm.SubmitAsync(drv));
            await farm.WaitRunningAsync(ids[0], Generous);
            var before = new List<BuildView>();
            foreach (var id in ids)
                before.Add(await farm.GetAsync(id));
            // Two slots, six builds of 2 s each: most are still waiting in the queue when the node goes down.
            Assert.True(before.Count(v => v.State == "queued") >= 2, "precondition: builds still queued when the broker stops");

            await farm.Broker.StopAsync();
            await farm.Broker.StartAsync();

            var views = await farm.WaitFinishedAsync(ids, TimeSpan.FromSeconds(180));
            for (var i = 0; i < drvs.Count; i++)
            {
                var view = views[i];
                Assert.True(view.State == "succeeded", $"build {i}: {view.State} {view.FailureKind} {view.FailureReason}");
                // Exactly one attempt's outputs were accepted: no build recorded (imported) twice.
                Assert.Single(view.Attempts, a => a.Outcome == "succeeded");
                Assert.Equal(drvs[i].OutPath, Assert.Single(view.Outputs).Path);
                var store = workers.Single(w => w.Name == view.Worker).PhysicalStoreDir;
                Assert.Equal(i.ToString(CultureInfo.InvariantCulture) + "\n", await File.ReadAllTextAsync(Path.Combine(store, Path.GetFileName(drvs[i].OutPath))));
            }
        }
        finally
        {
            foreach (var w in workers)
                w.Dispose();
        }
    }
}
