using System.Globalization;
using BuildFarm.Dispatcher.Api;
using BuildFarm.Integration.Tests.EndToEnd;
using BuildFarm.Messaging.Routing;
using BuildFarm.Testing;
using Xunit.Abstractions;

namespace BuildFarm.Integration.Tests.Cluster;

/// <summary>
/// The farm on a 3-node RabbitMQ cluster on loopback: the in-process dispatcher and two published worker processes,
/// each configured with all three nodes. Mid-run the node that leads the class queue is killed (SIGKILL, as a crash)
/// and later started again. bench/cluster/run.sh runs this same test with more builds
/// (<c>BUILDFARM_CLUSTER_BUILDS</c>) and reads its summary line from <c>BUILDFARM_CLUSTER_REPORT</c>.
/// </summary>
public sealed class ClusterFailoverTests(ITestOutputHelper output)
{
    private const string System = "cluster-linux";

    // A loaded 2-core machine: generous waits, exact counts. The lease outlasts a failover (MassTransit and
    // RabbitMQ.Client reconnect within seconds), so a build is retried only when its worker really is gone.
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan FinishTimeout = TimeSpan.FromMinutes(6);

    // Part of `./farm test` (about a minute: three Erlang nodes, two workers). It used to fail about one run in five:
    // a channel opened right after the kill was refused every publish by RabbitMQ 3.10 until the node came back, fixed
    // by replacing refused channels (PublishRefusals, docs/SCALING.md). `--filter Category!=Cluster` leaves it out.
    [Fact]
    [Trait("Category", "Cluster")]
    public async Task KillClassQueueLeader_MidRun_EveryBuildSucceedsExactlyOnce()
    {
        var builds = int.TryParse(Environment.GetEnvironmentVariable("BUILDFARM_CLUSTER_BUILDS"), CultureInfo.InvariantCulture, out var n) ? n : 16;
        using var scratch = BuilderScratch.Create("cluster-runs");
        var farm = new EndToEndFarm(Lease, brokerNodes: 3);
        await farm.InitializeAsync();
        RealWorker[] workers = [];
        try
        {
            var cluster = farm.Cluster!;
            workers = await farm.StartWorkersAsync(System, slots: 2, "cluster-a", "cluster-b");

            // Each run that gets to the end appends a line to its own file: more than one line is a build done twice.
            var drvs = new List<ShellDerivation>();
            for (var i = 0; i < builds; i++)
                drvs.Add(await ShellDerivation.CreateAsync($"cluster-{i}", System, $"/bin/sleep 2; echo {i} > $out; echo run >> {scratch.Combine($"run-{i}")}"));
            // The workers declared the class queue when they started. Asked before the run: rabbitmqctl takes seconds.
            var queue = BrokerTopology.BuildQueuePrefix + new BuildClass(System, []).Key;
            var members = await cluster.QuorumMembersAsync(queue);
            Assert.True(members.Count == 3, $"{queue} is replicated on every node: members {string.Join(", ", members)}");
            var leaderName = (await cluster.QueueLeadersAsync(queue))[queue];
            var leader = cluster.Node(leaderName);

            var ids = new List<Guid>();
            foreach (var drv in drvs)
                ids.Add(await farm.SubmitAsync(drv));

            // Kill the leader once the first build is done: the rest are queued on it or running.
            await EndToEndFarm.WaitUntilAsync(async () => await AnySucceededAsync(farm, ids), FinishTimeout,
                () => $"a first build of {builds} to succeed before the kill");
            await leader.KillAsync();
            var before = await CountAsync(farm, ids, "succeeded");
            Assert.True(before < builds, $"precondition: builds still to do when {leaderName} is killed ({before} of {builds} done)");
            output.WriteLine($"killed {leaderName}, leader of {queue}, with {before} of {builds} builds done");
            output.WriteLine(await cluster.DescribeQueuesAsync());

            // Failover: the farm goes on without the dead node.
            await EndToEndFarm.WaitUntilAsync(async () => await CountAsync(farm, ids, "succeeded") > before, FinishTimeout,
                () => $"a build to succeed while {leaderName} is down");
            var duringOutage = await CountAsync(farm, ids, "succeeded");
            await leader.StartAsync();
            output.WriteLine($"restarted {leaderName} with {duringOutage} of {builds} builds done");

            var views = await WaitFinishedOrDeadlineAsync(farm, ids);
            var succeeded = views.Count(v => v.State == "succeeded");
            var lost = builds - succeeded;
            var runs = Enumerable.Range(0, builds).Select(i => RunCount(scratch.Combine($"run-{i}"))).ToArray();
            var duplicated = Enumerable.Range(0, builds).Count(i => runs[i] > 1 || views[i].Attempts.Count(a => a.Outcome == "succeeded") > 1);
            var summary = $"builds {builds}, succeeded {succeeded}, lost {lost}, duplicated {duplicated}";
            output.WriteLine($"attempts {views.Sum(v => v.Attempts.Count)}, builder runs {runs.Sum()}, succeeded during the outage {duringOutage - before}");
            output.WriteLine(summary);
            if (Environment.GetEnvironmentVariable("BUILDFARM_CLUSTER_REPORT") is { Length: > 0 } report)
            {
                await File.WriteAllLinesAsync(report, [
                    $"killed {leaderName} (leader of {queue}) after {before} builds; {duringOutage - before} succeeded while it was down",
                    $"attempts {views.Sum(v => v.Attempts.Count)}, builder runs {runs.Sum()}",
                    summary,
                ]);
            }

            Assert.Equal($"builds {builds}, succeeded {builds}, lost 0, duplicated 0", summary);
            for (var i = 0; i < builds; i++)
            {
                Assert.Equal(drvs[i].OutPath, Assert.Single(views[i].Outputs).Path);
                var store = workers.Single(w => w.Name == views[i].Worker).PhysicalStoreDir;
                Assert.Equal(i.ToString(CultureInfo.InvariantCulture) + "\n", await File.ReadAllTextAsync(Path.Combine(store, Path.GetFileName(drvs[i].OutPath))));
            }
        }
        catch
        {
            foreach (var w in workers)
                output.WriteLine($"--- {w.Name}\n{w.Output}");
            throw;
        }
        finally
        {
            foreach (var w in workers)
                w.Dispose();
            await farm.DisposeAsync();
            farm.Dispose();
        }
    }

    private static async Task<bool> AnySucceededAsync(EndToEndFarm farm, IEnumerable<Guid> ids)
    {
        foreach (var id in ids)
        {
            if ((await farm.GetAsync(id)).State == "succeeded")
                return true;
        }

        return false;
    }

    private static async Task<int> CountAsync(EndToEndFarm farm, IEnumerable<Guid> ids, string state)
    {
        var count = 0;
        foreach (var id in ids)
        {
            if ((await farm.GetAsync(id)).State == state)
                count++;
        }

        return count;
    }

    /// <summary>The builds once none is open, or at the deadline as they are (then the open ones count as lost).</summary>
    private static async Task<List<BuildView>> WaitFinishedOrDeadlineAsync(EndToEndFarm farm, List<Guid> ids)
    {
        var deadline = DateTime.UtcNow + FinishTimeout;
        while (true)
        {
            var views = new List<BuildView>();
            try
            {
                foreach (var id in ids)
                    views.Add(await farm.GetAsync(id));
                if (views.All(v => v.State is not ("queued" or "running")) || DateTime.UtcNow > deadline)
                    return views;
            }
            catch (HttpRequestException) when (DateTime.UtcNow <= deadline)
            {
            }

            await Task.Delay(500);
        }
    }

    private static int RunCount(string file) =>
        File.Exists(file) ? File.ReadAllLines(file).Count(l => l == "run") : 0;
}
