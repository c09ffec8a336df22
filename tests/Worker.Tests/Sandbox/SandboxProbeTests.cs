using BuildFarm.Worker.Sandbox;
using BuildFarm.Worker.Supervision;
using BuildFarm.Worker.Tests.Supervision;

namespace BuildFarm.Worker.Tests.Sandbox;

public sealed class SandboxProbeTests
{
    [Fact]
    public async Task ProbeAsync_RootWithUnshareAndBusybox_Available()
    {
        var capability = await SandboxRunner.ProbeAsync(logicalStoreDir: "/nix/store");

        Assert.True(capability.Available, capability.Reason);
    }

    [Fact]
    public async Task ProbeAsync_MissingLogicalStoreDir_UnavailableWithReason()
    {
        var capability = await SandboxRunner.ProbeAsync(logicalStoreDir: "/no/such/store");

        Assert.False(capability.Available);
        Assert.Contains("/no/such/store does not exist", capability.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ProbeAsync_MissingUnshare_UnavailableWithReason()
    {
        var capability = await SandboxRunner.ProbeAsync(new SandboxTools(Unshare: "/no/such/unshare"));

        Assert.False(capability.Available);
        Assert.Contains("unshare not found at /no/such/unshare", capability.Reason, StringComparison.Ordinal);
    }
}
