using BuildFarm.Contracts;
using BuildFarm.Contracts.Builds;
using BuildFarm.Contracts.Workers;
using BuildFarm.Messaging.Routing;

namespace BuildFarm.Worker.Tests.Routing;

public sealed class ContractRoutingTests
{
    private static readonly WorkerCapabilities Configured = new(["x86_64-linux"], ["kvm"], [], Slots: 1, SpeedFactor: 1);

    [Fact]
    public void ClassOf_Version2_KeepsThePlainQueue_NewerVersionAddsItsMark()
    {
        var request = new BuildDerivation(Guid.NewGuid(), 1, "/nix/store/x.drv", "", "/nix/store", "x86_64-linux", ["kvm"], [], ["out"], null,
            new BuildLimits(TimeSpan.Zero, TimeSpan.Zero), 0, DateTimeOffset.UtcNow);
        Assert.Equal("x86_64-linux.kvm", ContractRouting.ClassOf(request, ContractsInfo.Version).Key);
        Assert.Equal("x86_64-linux.buildfarm-contract-3+kvm", ContractRouting.ClassOf(request, 3).Key);
        Assert.Equal("x86_64-linux.buildfarm-contract-3+buildfarm-trusted+kvm", ContractRouting.ClassOf(request with { Trusted = true }, 3).Key);
    }

    [Theory]
    [InlineData(new[] { 2 }, 2, true)]
    [InlineData(new[] { 2 }, 3, false)]
    [InlineData(new[] { 2, 3 }, 2, true)]
    [InlineData(new[] { 2, 3 }, 3, true)]
    [InlineData(new[] { 3 }, 2, false)]
    [InlineData(new[] { 3 }, 3, true)]
    public void Declared_SpokenVersions_TakesExactlyThoseVersions(int[] spoken, int version, bool expected)
    {
        var declared = ContractRouting.Declared(Configured, spoken);
        foreach (var features in new[] { Array.Empty<string>(), ["kvm"] })
            Assert.Equal(expected, ContractRouting.CanRun(declared, new BuildClass("x86_64-linux", features), version));
        Assert.Equal(spoken, ContractRouting.VersionsOf(declared));
        Assert.True(ContractRouting.CanRunAnyVersion(declared, new BuildClass("x86_64-linux", ["kvm"])));
    }

    [Fact]
    public void EnumerateClasses_TwoVersions_ConsumesPlainAndMarkedQueues_OneNewerVersionOnlyMarked()
    {
        var both = CapabilityMatcher.EnumerateClasses(ContractRouting.Declared(Configured, [2, 3])).Select(c => c.Key).Order(StringComparer.Ordinal);
        Assert.Equal(["x86_64-linux", "x86_64-linux.buildfarm-contract-3", "x86_64-linux.buildfarm-contract-3+kvm", "x86_64-linux.kvm"], both);
        var newer = CapabilityMatcher.EnumerateClasses(ContractRouting.Declared(Configured, [3])).Select(c => c.Key).Order(StringComparer.Ordinal);
        Assert.Equal(["x86_64-linux.buildfarm-contract-3", "x86_64-linux.buildfarm-contract-3+kvm"], newer);
    }

    [Fact]
    public void VersionsOf_WorkerThatPredatesTheMarks_SpeaksVersion2()
    {
        Assert.Equal([2], ContractRouting.VersionsOf(Configured));
        Assert.Equal([2], ContractRouting.VersionsOf(TrustedRouting.Declared(Configured, BuildIsolation.Unsandboxed)));
    }

    [Fact]
    public void Declared_SeveralNewerVersionsWithout2_RefusedAsUnroutable()
    {
        var e = Assert.Throws<ArgumentException>(() => ContractRouting.Declared(Configured, [3, 4]));
        Assert.Contains("cannot be routed", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ReservedFeatureProblem_ContractMark_RefusedByName()
    {
        Assert.Null(TrustedRouting.ReservedFeatureProblem(["kvm"]));
        Assert.Contains("'buildfarm-contract-3' is reserved", TrustedRouting.ReservedFeatureProblem(["kvm", "buildfarm-contract-3"]), StringComparison.Ordinal);
    }

    [Fact]
    public void IdentityOf_RequestJsonOfAnyVersion_ReadsBuildAndAttemptOnly()
    {
        var id = Guid.NewGuid();
        Assert.Equal((id, 4), ContractRouting.IdentityOf($$"""{"buildId":"{{id}}","attempt":4,"somethingNew":{"x":[1,2]},"z":1}"""));
        Assert.Null(ContractRouting.IdentityOf("""{"attempt":4}"""));
        Assert.Null(ContractRouting.IdentityOf("not json"));
        Assert.Null(ContractRouting.IdentityOf("[1]"));
    }
}
