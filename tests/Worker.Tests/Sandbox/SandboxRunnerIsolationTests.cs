using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using BuildFarm.Testing;
using BuildFarm.Worker.Sandbox;
using BuildFarm.Worker.Supervision;
using BuildFarm.Worker.Tests.Supervision;

namespace BuildFarm.Worker.Tests.Sandbox;

public sealed class SandboxRunnerIsolationTests
{
    /// <summary>Interface names from /proc/net/dev lines ("  eth0: 1234 …"), ignoring any other log line.</summary>
    private static string[] Interfaces(string log) =>
        [.. Regex.Matches(log, @"^\s*([^\s:]+):\s*\d", RegexOptions.Multiline).Select(m => m.Groups[1].Value).Order(StringComparer.Ordinal)];

    [Fact]
    public async Task RunAsync_NoNetwork_CannotReachHostListenerAndSeesOnlyLoopback()
    {
        using var dir = new TempDirectory("sbx-net");
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var log = new LogCollector();

        var result = await new SandboxRunner(BuilderTestKit.Sandbox).RunAsync(BuilderTestKit.Shell(
            $"/bin/busybox cat /proc/net/dev; if /bin/busybox nc -w 2 127.0.0.1 {port} </dev/null; then echo CONNECTED; else echo REFUSED; fi",
            dir.Path, dir.Path), log.OnLog, CancellationToken.None);

        Assert.True(result.Succeeded, $"{result}: {log.Text}");
        Assert.Contains("REFUSED", log.Text, StringComparison.Ordinal);
        Assert.False(listener.Pending(), "the sandboxed builder reached a listener on the host's loopback");
        Assert.Equal(["lo"], Interfaces(log.Text));
    }

    [Fact]
    public async Task RunAsync_AllowNetwork_SharesHostNetwork()
    {
        // Which addresses such a build may reach is FixedOutputNetworkTests' (the worker's firewall); here: the same
        // interfaces as the host, not a namespace of its own.
        using var dir = new TempDirectory("sbx-net-ok");
        var log = new LogCollector();

        var result = await new SandboxRunner(BuilderTestKit.Sandbox).RunAsync(BuilderTestKit.Shell(
            "/bin/busybox cat /proc/net/dev", dir.Path, dir.Path, allowNetwork: true), log.OnLog, CancellationToken.None);

        Assert.True(result.Succeeded, $"{result}: {log.Text}");
        Assert.Equal(Interfaces(await File.ReadAllTextAsync("/proc/net/dev")), Interfaces(log.Text));
        Assert.Contains("lo", Interfaces(log.Text));
    }

    [Fact]
    public async Task RunAsync_Environment_IsExactlyTheSpecsEvenForOddNamesAndBuilderPaths()
    {
        using var dir = new TempDirectory("sbx-env");
        // A builder path containing '=' (legal in store names) must not be read as one more assignment by env.
        const string builder = "/opt/bin=odd/busybox";
        var env = new Dictionary<string, string>
        {
            ["PATH"] = "/path-not-set",
            ["HOME"] = "/homeless-shelter",
            ["LD_LIBRARY_PATH"] = "/nonexistent",
            ["-starts-with-dash"] = "x",
            ["spaces and\nnewline"] = "a b\nc=d",
            ["empty"] = "",
        };
        var spec = new BuilderSpec(builder, ["env", "-0"], env, "/nix/store", dir.Path, dir.Path, false, TimeSpan.FromSeconds(60), TimeSpan.Zero);
        var log = new LogCollector();

        var settings = BuilderTestKit.Sandbox with { ExtraPaths = [new ExtraPath(builder, BuilderTestKit.Busybox)] };
        var result = await new SandboxRunner(settings).RunAsync(spec, log.OnLog, CancellationToken.None);

        Assert.True(result.Succeeded, $"{result}: {log.Text}");
        var seen = log.Text.Split('\0', StringSplitOptions.RemoveEmptyEntries).Select(e => e.Split('=', 2)).ToDictionary(p => p[0], p => p[1]);
        // Bubblewrap sets PWD to the directory it starts the builder in, as Nix's environment does anyway.
        Assert.Equal(env.Append(new("PWD", "/build")).OrderBy(e => e.Key, StringComparer.Ordinal), seen.OrderBy(e => e.Key, StringComparer.Ordinal));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task RunAsync_StdoutAndStderr_MergedInOrderAndExitCodeKept(bool nativeLauncher)
    {
        using var dir = new TempDirectory("sbx-exit");
        var log = new LogCollector();

        var result = await new SandboxRunner(BuilderTestKit.Sandbox with { NativeLauncher = nativeLauncher }).RunAsync(BuilderTestKit.Shell(
            "echo one; echo two >&2; echo three; exit 7", dir.Path, dir.Path), log.OnLog, CancellationToken.None);

        Assert.Equal(BuilderOutcome.Exited, result.Outcome);
        Assert.Equal(7, result.ExitCode);
        Assert.Equal("one\ntwo\nthree\n", log.Text);
        Assert.Equal(Encoding.UTF8.GetByteCount(log.Text), result.LogBytes);
    }

    [Theory]
    [InlineData("A=B", "/bin/busybox", "environment variable name 'A=B'")]
    [InlineData("A", "busybox", "builder 'busybox' is not an absolute path")]
    public async Task RunAsync_InvalidSpec_RejectedWithoutRunning(string envName, string builder, string expected)
    {
        using var dir = new TempDirectory("sbx-reject");
        var spec = BuilderTestKit.Shell("echo ran", dir.Path, dir.Path) with { Builder = builder, Env = new Dictionary<string, string> { [envName] = "c" } };
        var log = new LogCollector();

        var result = await new SandboxRunner(BuilderTestKit.Sandbox).RunAsync(spec, log.OnLog, CancellationToken.None);

        Assert.Equal(BuilderOutcome.Rejected, result.Outcome);
        Assert.Contains(expected, result.Error, StringComparison.Ordinal);
        Assert.Equal("", log.Text);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task RunAsync_SignalDispositions_AllDefaultNothingIgnoredOrBlocked(bool nativeLauncher)
    {
        // The worker (.NET) ignores SIGPIPE, and an ignored signal survives exec: `yes | head` would then fail with
        // EPIPE instead of ending quietly, unlike under Nix.
        using var dir = new TempDirectory("sbx-signals");
        var log = new LogCollector();

        var result = await new SandboxRunner(BuilderTestKit.Sandbox with { NativeLauncher = nativeLauncher }).RunAsync(BuilderTestKit.Shell(
            "/bin/busybox grep -E '^Sig(Ign|Blk)' /proc/self/status; /bin/busybox yes | /bin/busybox head -n 1", dir.Path, dir.Path), log.OnLog, CancellationToken.None);

        Assert.True(result.Succeeded, $"{result}: {log.Text}");
        Assert.Contains("SigIgn:\t0000000000000000", log.Text, StringComparison.Ordinal);
        Assert.Contains("SigBlk:\t0000000000000000", log.Text, StringComparison.Ordinal);
        Assert.DoesNotContain("Broken pipe", log.Text, StringComparison.Ordinal);
    }
}
