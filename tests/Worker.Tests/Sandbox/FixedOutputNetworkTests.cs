using System.Net;
using System.Net.Sockets;
using BuildFarm.Testing;
using BuildFarm.Worker.Configuration;
using BuildFarm.Worker.Sandbox;
using BuildFarm.Worker.Tests.Supervision;

namespace BuildFarm.Worker.Tests.Sandbox;

/// <summary>
/// A fixed-output build has the host's network but not the farm's control plane. "Outside" is a network namespace
/// the test owns, joined to the host by a veth pair: its address is not the host's, as a download server would be.
/// </summary>
public sealed class FixedOutputNetworkTests : IAsyncLifetime
{
    private readonly string _ns = "bfout" + Random.Shared.Next(10_000, 99_999).ToString(System.Globalization.CultureInfo.InvariantCulture);
    private readonly int _subnet = Random.Shared.Next(1, 250);
    private FixedOutputFirewall _firewall = FixedOutputFirewall.None;

    private string HostSide => $"10.251.{_subnet}.1";

    private string OutsideSide => $"10.251.{_subnet}.2";

    public async Task InitializeAsync()
    {
        var veth = "v" + _ns;
        await Run($"ip netns add {_ns} && ip link add {veth}a type veth peer name {veth}b && ip link set {veth}b netns {_ns}"
            + $" && ip addr add {HostSide}/30 dev {veth}a && ip link set {veth}a up"
            + $" && ip netns exec {_ns} ip addr add {OutsideSide}/30 dev {veth}b && ip netns exec {_ns} ip link set {veth}b up && ip netns exec {_ns} ip link set lo up");
        _firewall = await FixedOutputFirewall.InstallAsync(
            new WorkerOptions { Broker = { Uri = "amqp://guest:guest@127.0.0.1:5672/" } }, SandboxSettings.Default.Nft, CancellationToken.None);
        Assert.True(_firewall.Filtered, _firewall.Reason);
    }

    public async Task DisposeAsync() => await Run($"ip netns del {_ns}; ip link del v{_ns}a 2>/dev/null; true");

    [Fact]
    public async Task FixedOutputBuild_ControlPlaneOnThisMachine_RefusedAndListenersSeeNothing()
    {
        using var dir = new TempDirectory("fod-net");
        // Listening on every address: the loopback one and the host's own interface address are both this machine.
        using var listener = new TcpListener(IPAddress.Any, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var log = new LogCollector();

        var result = await new SandboxRunner(BuilderTestKit.Sandbox).RunAsync(BuilderTestKit.Shell(
            $"for a in 127.0.0.1 {HostSide}; do if echo x | /bin/busybox nc -w 2 $a {port}; then echo \"REACHED $a\"; else echo \"REFUSED $a\"; fi; done",
            Directory.CreateDirectory(dir.Combine("build")).FullName, dir.Path, allowNetwork: true), log.OnLog, CancellationToken.None);

        Assert.True(result.Succeeded, $"{result}: {log.Text}");
        Assert.Contains("REFUSED 127.0.0.1", log.Text, StringComparison.Ordinal);
        Assert.Contains($"REFUSED {HostSide}", log.Text, StringComparison.Ordinal);
        Assert.False(listener.Pending(), "a fixed-output build reached a listener of the host");
    }

    [Fact]
    public async Task FixedOutputBuild_ServerOutsideTheMachine_Reached()
    {
        using var dir = new TempDirectory("fod-out");
        var port = Random.Shared.Next(20_000, 30_000);
        using var server = ChildProcess.Start("outside-server", "/usr/sbin/ip", ["netns", "exec", _ns, "/bin/busybox", "nc", "-l", "-p", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "-e", "/bin/busybox", "echo", "served"]);
        await Task.Delay(300);
        var log = new LogCollector();

        var result = await new SandboxRunner(BuilderTestKit.Sandbox).RunAsync(BuilderTestKit.Shell(
            $"echo x | /bin/busybox nc -w 5 {OutsideSide} {port}", Directory.CreateDirectory(dir.Combine("build")).FullName, dir.Path, allowNetwork: true), log.OnLog, CancellationToken.None);

        Assert.True(result.Succeeded, $"{result}: {log.Text}");
        Assert.Contains("served", log.Text, StringComparison.Ordinal);
    }

    [Fact]
    public void Script_ControlPlaneAddresses_RejectsLocalAndListedForTheBuildUsersOnly()
    {
        var script = FixedOutputFirewall.Script(872415232, [IPAddress.Parse("192.0.2.7"), IPAddress.Loopback, IPAddress.Parse("2001:db8::1")]);

        Assert.Contains("meta skuid 872415232-872416255 fib daddr type local counter reject", script, StringComparison.Ordinal);
        Assert.Contains("meta skuid 872415232-872416255 ip daddr { 192.0.2.7 } counter reject", script, StringComparison.Ordinal);
        Assert.Contains("meta skuid 872415232-872416255 ip6 daddr { 2001:db8::1 } counter reject", script, StringComparison.Ordinal);
        Assert.DoesNotContain("127.0.0.1", script, StringComparison.Ordinal);
    }

    private static async Task Run(string script)
    {
        var r = await ProcessRunner.RunAsync("/bin/sh", ["-c", script]);
        Assert.True(r.ExitCode == 0, $"{script}: {r.Stderr}");
    }
}
