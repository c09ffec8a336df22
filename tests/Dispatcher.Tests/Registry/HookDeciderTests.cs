using BuildFarm.Contracts.Workers;
using BuildFarm.Dispatcher.Lifecycle;
using BuildFarm.Dispatcher.Registry;
using BuildFarm.Messaging.Routing;

namespace BuildFarm.Dispatcher.Tests.Registry;

public sealed class HookDeciderTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 4, 22, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Window = TimeSpan.FromSeconds(30);
    private static readonly BuildClass Plain = new("x86_64-linux", []);
    private static readonly BuildClass Kvm = new("x86_64-linux", ["kvm"]);

    private static WorkerRecord Worker(string name, int slots = 1, string[]? features = null, TimeSpan? silentFor = null, bool draining = false) =>
        new(name, new WorkerCapabilities(["x86_64-linux"], features ?? [], [], slots, 1.0), Now.AddHours(-1), Now - (silentFor ?? TimeSpan.FromSeconds(1)),
            WorkerTable.Online, "1.0", 0, 1L << 40, draining, false, null, 0, 0);

    private static BuildRecord Build(string state, string? worker = null, bool published = true, TimeSpan? age = null, string[]? features = null) =>
        new(Guid.NewGuid(), "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-x.drv", "", "/nix/store", "x86_64-linux", features ?? [], ["out"], state, 1, published,
            worker, null, 0, TimeSpan.Zero, TimeSpan.Zero, false, null, null, null, Now - (age ?? TimeSpan.FromSeconds(1)), null, null, null, false);

    private static OpenBuildCounts Open(params IEnumerable<BuildRecord> open) => OpenBuildCounts.Of(open, Now - HookDecider.BrokerStallAfter);

    [Fact]
    public void Decide_NoWorkerCanEverRunTheSystem_DeclinesNamingSystemAndMachines()
    {
        var d = HookDecider.Decide([Worker("w1")], OpenBuildCounts.None, new BuildClass("mips64el-linux", []), Now, Window);

        Assert.Equal("decline", d.Verdict);
        Assert.Contains("mips64el-linux", d.Reason, StringComparison.Ordinal);
        Assert.Contains("w1", d.Reason, StringComparison.Ordinal);
        Assert.DoesNotContain("--wait-for-capacity", d.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Decide_CapableWorkerWithFreeSlot_AcceptsNamingIt()
    {
        var d = HookDecider.Decide([Worker("w1"), Worker("w2", features: ["kvm"])], OpenBuildCounts.None, Kvm, Now, Window);

        Assert.Equal("accept", d.Verdict);
        Assert.Equal("buildfarm[w2]", d.Machine);
    }

    [Fact]
    public void Decide_OnlyKvmWorkerBusy_Postpones()
    {
        var d = HookDecider.Decide([Worker("w1", slots: 4), Worker("w2", features: ["kvm"])], Open(Build(BuildState.Running, "w2", features: ["kvm"])), Kvm, Now, Window);

        Assert.Equal("postpone", d.Verdict);
        Assert.Contains("w2", d.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Decide_FreeSlotAlreadyClaimedByAQueuedBuild_Postpones()
    {
        var d = HookDecider.Decide([Worker("w1", slots: 2)], Open(Build(BuildState.Running, "w1"), Build(BuildState.Queued)), Plain, Now, Window);

        Assert.Equal("postpone", d.Verdict);
    }

    [Fact]
    public void Decide_SlotsTakenButBacklogRoom_AcceptsNamingTheTakingWorkers()
    {
        // 2 slots, both running, 3 queued; a backlog of 2 per slot leaves room for 4 queued builds.
        var open = new[] { Build(BuildState.Running, "w1"), Build(BuildState.Running, "w1"), Build(BuildState.Queued), Build(BuildState.Queued), Build(BuildState.Queued) };

        var d = HookDecider.Decide([Worker("w1", slots: 2)], Open(open), Plain, Now, Window, backlogPerSlot: 2);

        Assert.Equal(("accept", "buildfarm[w1]"), (d.Verdict, d.Machine));
    }

    [Fact]
    public void Decide_BacklogFull_Postpones()
    {
        var open = new List<BuildRecord> { Build(BuildState.Running, "w1"), Build(BuildState.Running, "w1") };
        open.AddRange(Enumerable.Range(0, 4).Select(_ => Build(BuildState.Queued)));

        var d = HookDecider.Decide([Worker("w1", slots: 2)], Open(open), Plain, Now, Window, backlogPerSlot: 2);

        Assert.Equal("postpone", d.Verdict);
        Assert.Contains("4 build(s) queued ahead (backlog up to 2 per slot)", d.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Decide_CapableWorkersSilentOrDraining_PostponesSayingWhy()
    {
        var d = HookDecider.Decide([Worker("w1", silentFor: TimeSpan.FromMinutes(5)), Worker("w2", draining: true)], OpenBuildCounts.None, Plain, Now, Window);

        Assert.Equal("postpone", d.Verdict);
        Assert.Contains("w1: not heard from for 300 s", d.Reason, StringComparison.Ordinal);
        Assert.Contains("w2: draining", d.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Decide_BrokerHasNotConfirmedARequest_Postpones()
    {
        var d = HookDecider.Decide([Worker("w1", slots: 8)], Open(Build(BuildState.Queued, published: false, age: TimeSpan.FromSeconds(40))), Plain, Now, Window);

        Assert.Equal("postpone", d.Verdict);
        Assert.Contains("broker", d.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Decide_BusReportsTheBrokerLost_PostponesWithThatReason()
    {
        var d = HookDecider.Decide([Worker("w1", slots: 8)], OpenBuildCounts.None, Plain, Now, Window, "the dispatcher's broker connection is unhealthy: down");

        Assert.Equal("postpone", d.Verdict);
        Assert.Equal("the dispatcher's broker connection is unhealthy: down", d.Reason);
    }

    [Fact]
    public void Decide_BrokerLostButNoMachineCouldEverBuildIt_StillDeclines()
    {
        var d = HookDecider.Decide([Worker("w1")], OpenBuildCounts.None, new BuildClass("mips64el-linux", []), Now, Window, "the dispatcher's broker connection is unhealthy");

        Assert.Equal("decline", d.Verdict);
    }
}
