using System.Net;
using System.Net.Sockets;
using BuildFarm.Worker.Supervision;
using BuildFarm.Worker.Tests.Supervision;

namespace BuildFarm.Worker.Tests.Sandbox;

/// <summary>
/// A subset of <see cref="HostileBuilderTests"/> with the worker as <c>packaging/buildfarm-worker.service</c> runs it
/// (an unprivileged user with the unit's capabilities and no_new_privs, reproduced with setpriv; see
/// <see cref="UnitWorker"/>), plus what the sandbox needs those capabilities for: handing the build to its build
/// user, killing it on timeout, taking back outputs and files the builder locked away, an empty bounding set.
/// Removed in turn from the unit, each of CAP_SETUID, CAP_SETGID, CAP_SETPCAP, CAP_CHOWN and CAP_KILL fails at least
/// one of these tests (CAP_NET_ADMIN serves the fixed-output firewall, not exercised here). They also need the
/// unit's StateDirectoryMode to let build users reach their build directories (o+x: bubblewrap resolves its bind
/// sources as the build user) and RuntimeDirectory=buildfarm (ProtectSystem=strict leaves /run read-only, and the
/// build-user locks live in /run/buildfarm).
/// </summary>
public sealed class HostileBuilderUnderWorkerUnitTests
{
    [Fact]
    public void Unit_Capabilities_AmbientAndBoundingAreTheSame()
    {
        var unit = WorkerUnit.Read();

        Assert.Equal(unit.Bounding.Order(StringComparer.Ordinal), unit.Ambient.Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task UnderWorkerUnit_ReadTheWorkersKeysAndConfig_NeitherReadableNorVisible()
    {
        using var worker = new UnitWorker();
        var token = "secret-" + Guid.NewGuid().ToString("N");
        string[] secrets = [worker.Secret("keys/signing.sec", token), worker.Secret(".ssh/id_ed25519", token), worker.Secret("worker.json", token)];
        var script = HostileBuilderTests.Attempts + string.Concat(secrets.Select((f, i) => $"try cat{i} cat {f}\ntry see{i} test -e {f}\n"))
            + $"try list ls {worker.State}\n";

        var (result, log) = await worker.RunAsync(script);

        Assert.True(result.Succeeded, $"{result}: {log}");
        HostileBuilderTests.AssertAllDenied(log, "cat0", "see0", "cat1", "see1", "cat2", "see2", "list");
        Assert.DoesNotContain(token, log, StringComparison.Ordinal);
        Assert.All(secrets, s => Assert.Equal(token, File.ReadAllText(s)));
    }

    [Fact]
    public async Task UnderWorkerUnit_WriteTheHostsTmp_MarkerNeverAppearsOnTheHost()
    {
        using var worker = new UnitWorker();
        var token = "hostile-" + Guid.NewGuid().ToString("N");

        var (result, log) = await worker.RunAsync($"echo x > /tmp/{token} && echo wrote-private-tmp");

        Assert.True(result.Succeeded, $"{result}: {log}");
        Assert.Equal("wrote-private-tmp\n", log);
        Assert.False(File.Exists(Path.Combine(Path.GetTempPath(), token)), "the builder's /tmp marker appeared in the host's /tmp");
    }

    [Fact]
    public async Task UnderWorkerUnit_ConnectToAHostListener_RefusedAndTheListenerSeesNothing()
    {
        using var worker = new UnitWorker();
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;

        var (result, log) = await worker.RunAsync(HostileBuilderTests.Attempts + $"try tcp sh -c 'echo hello | nc -w 2 127.0.0.1 {port}'\n");

        Assert.True(result.Succeeded, $"{result}: {log}");
        HostileBuilderTests.AssertAllDenied(log, "tcp");
        Assert.False(listener.Pending(), "a sandboxed builder reached a listener of the host");
    }

    [Fact]
    public async Task UnderWorkerUnit_DaemonLeftRunning_NothingOfTheBuildOutlivesIt()
    {
        using var worker = new UnitWorker();
        var token = "hostile-" + Guid.NewGuid().ToString("N");
        var sawDaemon = false;

        // The builder exits once the test has seen its daemon from the host.
        var (result, log) = await worker.RunAsync(
            $"a={token[..8]}; b={token[8..]}; setsid /bin/busybox sh -c \"sleep 1000; : $a$b\" & echo started; while [ ! -e /build/go ]; do sleep 0.05; done",
            line =>
            {
                if (line != "started")
                    return;
                var deadline = DateTime.UtcNow + BuilderTestKit.LogWait;
                while (!sawDaemon && DateTime.UtcNow < deadline)
                    sawDaemon = BuilderTestKit.LiveProcessesWith(token).Count >= 1;
                File.WriteAllText(Path.Combine(worker.State, "builds", "b1", "go"), "");
            });

        Assert.True(result.Succeeded, $"{result}: {log}");
        Assert.True(sawDaemon, "the daemon never ran, so its absence proves nothing");
        Assert.Empty(BuilderTestKit.LiveProcessesWith(token));
        Assert.Empty(worker.BuildUserProcesses());
    }

    [Fact]
    public async Task UnderWorkerUnit_BuildOverItsTimeout_KilledWithNothingLeft()
    {
        using var worker = new UnitWorker();

        var (result, log) = await worker.RunAsync("echo started; sleep 1000", timeout: TimeSpan.FromSeconds(2));

        Assert.Equal(BuilderOutcome.TimedOut, result.Outcome);
        Assert.Equal("started\n", log);
        Assert.Empty(worker.BuildUserProcesses());
    }

    [Fact]
    public async Task UnderWorkerUnit_NoCapabilityInTheBuildAndLockedAwayFilesTakenBack_OutputClaimedAndNothingLeft()
    {
        using var worker = new UnitWorker();
        var output = $"/nix/store/{Guid.NewGuid():N}-out";
        string? hostView = null;
        // The build user's directories made unreadable, unwritable and unsearchable: the worker must still take them back.
        var script = $"""
            mkdir -p {output}/sub /tmp/locked/inner /build/locked/inner
            echo made > {output}/sub/file
            chmod 000 {output}/sub {output} /tmp/locked/inner /tmp/locked /build/locked/inner /build/locked
            grep -E '^(CapEff|CapBnd|NoNewPrivs)' /proc/self/status
            echo ready; sleep 0.5
            """;

        var (result, log) = await worker.RunAsync(script, line =>
        {
            if (line == "ready")
                hostView = string.Join(" ", worker.BuildUserProcesses().Select(Capabilities));
        }, outputs: [output]);

        Assert.True(result.Succeeded, $"{result}: {log}");
        Assert.Contains("CapEff:\t0000000000000000\nCapBnd:\t0000000000000000\nNoNewPrivs:\t1\n", log, StringComparison.Ordinal);
        // The host's view of bubblewrap and the builder: nothing of the worker's capabilities, not even in the bounding set.
        Assert.NotNull(hostView);
        Assert.DoesNotMatch(@"Cap(Prm|Eff|Bnd|Amb):\s*0*[1-9a-f]", hostView);
        var claimed = Path.Combine(worker.Store, Path.GetFileName(output));
        Assert.Equal("made\n", File.ReadAllText(Path.Combine(claimed, "sub", "file")));
        Assert.Equal(UnitWorker.Uid, BuilderTestKit.Owner(Path.Combine(claimed, "sub", "file")));
        Assert.False(Directory.Exists(Path.Combine(worker.State, "builds", "b1.sandbox")), "the sandbox's private root was left behind");
    }

    /// <summary>The Cap* lines of a host process's status, or nothing if it is already gone.</summary>
    private static string Capabilities(int pid)
    {
        try
        {
            return string.Join(",", File.ReadAllLines($"/proc/{pid}/status").Where(l => l.StartsWith("Cap", StringComparison.Ordinal)));
        }
        catch (IOException)
        {
            return "";
        }
    }
}
