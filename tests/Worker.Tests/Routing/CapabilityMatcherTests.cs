using BuildFarm.Contracts.Workers;
using BuildFarm.Messaging.Routing;

namespace BuildFarm.Worker.Tests.Routing;

public sealed class CapabilityMatcherTests
{
    private static WorkerCapabilities Machine(string[] systems, string[] features, string[] mandatory) =>
        new(systems, features, mandatory, Slots: 1, SpeedFactor: 1);

    [Theory]
    [InlineData("x86_64-linux", "", true)]
    [InlineData("x86_64-linux", "kvm", true)]
    [InlineData("x86_64-linux", "kvm big-parallel", false)]
    [InlineData("i686-linux", "", false)]
    public void CanRun_PlainMachineWithKvm_FollowsNixRule(string system, string features, bool expected)
    {
        var machine = Machine(["x86_64-linux"], ["kvm"], []);
        var build = new BuildClass(system, features.Split(' ', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal(expected, CapabilityMatcher.CanRun(machine, build));
    }

    [Fact]
    public void CanRun_MandatoryFeatureNotRequired_Refuses()
    {
        var machine = Machine(["x86_64-linux"], ["kvm"], ["benchmark"]);
        Assert.False(CapabilityMatcher.CanRun(machine, new BuildClass("x86_64-linux", ["kvm"])));
        Assert.True(CapabilityMatcher.CanRun(machine, new BuildClass("x86_64-linux", ["benchmark", "kvm"])));
    }

    [Fact]
    public void EnumerateClasses_EveryClassIsRunnableAndComplete()
    {
        var machine = Machine(["x86_64-linux", "i686-linux"], ["kvm", "big-parallel"], ["benchmark"]);
        var classes = CapabilityMatcher.EnumerateClasses(machine);
        Assert.Equal(8, classes.Count);
        Assert.All(classes, c => Assert.True(CapabilityMatcher.CanRun(machine, c)));
        Assert.Contains(classes, c => c.Key == "x86_64-linux.benchmark+big-parallel+kvm");
        Assert.DoesNotContain(classes, c => c.Key == "x86_64-linux");
    }

    [Fact]
    public void BuildClass_FeaturesInAnyOrder_SameQueue()
    {
        var a = new BuildClass("x86_64-linux", ["kvm", "big-parallel", "kvm"]);
        var b = new BuildClass("x86_64-linux", ["big-parallel", "kvm"]);
        Assert.Equal(a, b);
        Assert.Equal("buildfarm.build.x86_64-linux.big-parallel+kvm", a.QueueName);
    }
}
