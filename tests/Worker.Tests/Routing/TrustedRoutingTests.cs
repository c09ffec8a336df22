using System.Text.Json;
using System.Text.Json.Nodes;
using BuildFarm.Contracts.Builds;
using BuildFarm.Contracts.Workers;
using BuildFarm.Messaging.Requests;
using BuildFarm.Messaging.Routing;

namespace BuildFarm.Worker.Tests.Routing;

public sealed class TrustedRoutingTests
{
    private static readonly WorkerCapabilities Configured = new(["x86_64-linux"], ["kvm"], [], Slots: 1, SpeedFactor: 1);

    [Fact]
    public void ClassOf_Trusted_AddsTheMarkToTheRoutingNotTheFeatures()
    {
        Assert.Equal("x86_64-linux.kvm", TrustedRouting.ClassOf("x86_64-linux", ["kvm"], trusted: false).Key);
        Assert.Equal("x86_64-linux.buildfarm-trusted+kvm", TrustedRouting.ClassOf("x86_64-linux", ["kvm"], trusted: true).Key);
        var request = new BuildDerivation(Guid.NewGuid(), 1, "/nix/store/x.drv", "", "/nix/store", "x86_64-linux", [], [], ["out"], null,
            new BuildLimits(TimeSpan.Zero, TimeSpan.Zero), 0, DateTimeOffset.UtcNow, Trusted: true);
        Assert.Equal("x86_64-linux.buildfarm-trusted", TrustedRouting.ClassOf(request).Key);
        Assert.Empty(request.RequiredFeatures);
    }

    [Theory]
    [InlineData(BuildIsolation.Sandboxed, false, true)]
    [InlineData(BuildIsolation.Sandboxed, true, true)]
    [InlineData(BuildIsolation.Unsandboxed, false, false)]
    [InlineData(BuildIsolation.Unsandboxed, true, true)]
    [InlineData(BuildIsolation.None, false, false)]
    public void Declared_ByIsolation_UnsandboxedTakesOnlyTrustedBuilds(BuildIsolation isolation, bool trusted, bool expected)
    {
        var declared = TrustedRouting.Declared(Configured, isolation);
        foreach (var features in new[] { Array.Empty<string>(), ["kvm"] })
            Assert.Equal(expected, CapabilityMatcher.CanRun(declared, TrustedRouting.ClassOf("x86_64-linux", features, trusted)));
    }

    [Fact]
    public void EnumerateClasses_Unsandboxed_ConsumesOnlyTrustedQueues_SandboxedBoth()
    {
        var unsandboxed = CapabilityMatcher.EnumerateClasses(TrustedRouting.Declared(Configured, BuildIsolation.Unsandboxed)).Select(c => c.Key).Order();
        var sandboxed = CapabilityMatcher.EnumerateClasses(TrustedRouting.Declared(Configured, BuildIsolation.Sandboxed)).Select(c => c.Key).Order();

        Assert.Equal(["x86_64-linux.buildfarm-trusted", "x86_64-linux.buildfarm-trusted+kvm"], unsandboxed);
        Assert.Equal(["x86_64-linux", "x86_64-linux.buildfarm-trusted", "x86_64-linux.buildfarm-trusted+kvm", "x86_64-linux.kvm"], sandboxed);
    }

    [Fact]
    public void Declared_Twice_AddsTheMarkOnce()
    {
        var once = TrustedRouting.Declared(Configured, BuildIsolation.Unsandboxed);
        Assert.Equal([TrustedRouting.Feature], TrustedRouting.Declared(once, BuildIsolation.Unsandboxed).MandatoryFeatures);
        Assert.Equal(["kvm", TrustedRouting.Feature], TrustedRouting.Declared(Configured, BuildIsolation.Sandboxed).SupportedFeatures);
    }

    [Fact]
    public void Deserialize_RequestFromADispatcherWithoutTheField_IsNotTrusted()
    {
        var request = new BuildDerivation(Guid.NewGuid(), 1, "/nix/store/x.drv", "", "/nix/store", "x86_64-linux", [], [], ["out"], null,
            new BuildLimits(TimeSpan.Zero, TimeSpan.Zero), 0, DateTimeOffset.UtcNow, Trusted: true);
        var node = JsonNode.Parse(JsonSerializer.Serialize(request, MessagingJson.Options))!.AsObject();
        Assert.True(node.Remove("trusted"), "the field is serialised as 'trusted'");

        var old = JsonSerializer.Deserialize<BuildDerivation>(node.ToJsonString(), MessagingJson.Options)!;

        Assert.False(old.Trusted);
        Assert.Equal("x86_64-linux", TrustedRouting.ClassOf(old).Key);
    }

    [Fact]
    public void ReservedFeatureProblem_DerivationNamesTheMark_SaysItIsReserved()
    {
        Assert.Null(TrustedRouting.ReservedFeatureProblem(["kvm"]));
        var problem = TrustedRouting.ReservedFeatureProblem(["kvm", "buildfarm-trusted"]);
        Assert.NotNull(problem);
        Assert.Contains("reserved", problem, StringComparison.Ordinal);
        Assert.Contains("--trusted", problem, StringComparison.Ordinal);
    }
}
