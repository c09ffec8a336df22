using BuildFarm.Worker.Sandbox;

namespace BuildFarm.Worker.Tests.Sandbox;

public sealed class SandboxProbeTests
{
    [Fact]
    public async Task ProbeAsync_RootWithBubblewrap_AvailableAndSaysWhatItChecked()
    {
        var capability = await SandboxRunner.ProbeAsync(logicalStoreDir: "/nix/store");

        Assert.True(capability.Available, capability.Reason);
        Assert.Contains("private root", capability.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ProbeAsync_OtherLogicalStoreDir_Available()
    {
        // The store directory builders see is made inside the sandbox: it need not exist on the host.
        var capability = await SandboxRunner.ProbeAsync(logicalStoreDir: "/no/such/store");

        Assert.True(capability.Available, capability.Reason);
    }

    [Fact]
    public async Task ProbeAsync_MissingBubblewrap_UnavailableWithReason()
    {
        var capability = await SandboxRunner.ProbeAsync(new SandboxSettings { Bwrap = "/no/such/bwrap" });

        Assert.False(capability.Available);
        Assert.Contains("bubblewrap (apt-get install bubblewrap) not found at /no/such/bwrap", capability.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ProbeAsync_UserNamespacesDisabled_UnavailableWithReason()
    {
        // A build user that may not create a user namespace: what a machine with user.max_user_namespaces = 0 gives.
        // (Through the shell chain, whose uid change is replaced by true: the launcher would not let itself be cut short.)
        var capability = await SandboxRunner.ProbeAsync(new SandboxSettings { NativeLauncher = false, Setpriv = "/usr/bin/true" });

        Assert.False(capability.Available);
        Assert.Contains("cannot create a build sandbox", capability.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ProbeAsync_StoreBehindAClosedDirectory_UnavailableNamingItAndTheFix()
    {
        using var dir = new BuildFarm.Testing.TempDirectory("probe-closed");
        var closed = Directory.CreateDirectory(dir.Combine("state")).FullName;
        File.SetUnixFileMode(closed, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute);
        var store = Directory.CreateDirectory(Path.Combine(closed, "store")).FullName;

        var capability = await SandboxRunner.ProbeAsync(mustReach: [store, dir.Combine("builds")]);

        Assert.False(capability.Available);
        Assert.Contains($"build users cannot reach {store}: {closed} has no execute permission for others (chmod o+x {closed}", capability.Reason, StringComparison.Ordinal);
    }
}
