using System.Diagnostics;
using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using BuildFarm.Testing;
using BuildFarm.Worker.Sandbox;
using BuildFarm.Worker.Supervision;
using BuildFarm.Worker.Tests.Supervision;

namespace BuildFarm.Worker.Tests.Sandbox;

/// <summary>
/// Builders that try what a hostile derivation would (issue 14's proof), each on the real sandbox: every test asserts
/// that the attempt failed inside AND that nothing changed or leaked on the host, checked from the host's side.
/// Attempts are written with <see cref="Attempts"/>: each prints <c>NAME:denied</c> or <c>NAME:ALLOWED</c>, and a test
/// requires every named attempt to have been made and denied (a script that stopped early cannot pass).
/// </summary>
public sealed class HostileBuilderTests
{
    private const string Store = "/nix/store";
    private const long MiB = 1024 * 1024;

    /// <summary>
    /// <c>try NAME COMMAND…</c>: runs the command and prints whether it was allowed, with its output on the same line.
    /// The commands that would run something on success run <c>/bin/busybox echo</c>, which always works.
    /// </summary>
    internal const string Attempts = """
        try() { name=$1; shift; if out=$("$@" 2>&1); then echo "$name:ALLOWED $out" | tr '\n' ' '; echo; else echo "$name:denied $out" | tr '\n' ' '; echo; fi; }

        """;

    [Fact]
    public async Task RunAsync_ReadWorkerSecrets_NeitherReadableNorVisible()
    {
        using var dir = new TempDirectory("hostile-secrets");
        var secrets = WorkerSecrets.Create(dir.Combine("worker"));
        var before = secrets.Snapshot();
        var script = Attempts + string.Concat(secrets.Files.Select((f, i) =>
            $"try cat{i} cat {f}\ntry see{i} test -e {f}\ntry list{i} ls {Path.GetDirectoryName(f)}\ntry viaroot{i} cat /proc/1/root{f}\n"))
            + $"try list-worker ls {dir.Path}\n"
            // Anything readable anywhere in the builder's world, not only where the worker keeps it.
            + Everywhere("grep", secrets.Token);

        var (result, log) = await RunAsync(Spec(dir, script));

        Assert.True(result.Succeeded, $"{result}: {log}");
        AssertAllDenied(log, [.. Enumerable.Range(0, secrets.Files.Count).SelectMany(i => new[] { $"cat{i}", $"see{i}", $"list{i}", $"viaroot{i}" }), "list-worker", "grep"]);
        Assert.DoesNotContain(secrets.Token, log, StringComparison.Ordinal);
        Assert.Equal(before, secrets.Snapshot());
    }

    [Fact]
    public async Task RunAsync_StorePathOutsideTheInputs_NeitherReadableNorVisible()
    {
        using var dir = new TempDirectory("hostile-closure");
        var phys = Directory.CreateDirectory(dir.Combine("phys")).FullName;
        var token = Token();
        var input = StoreDir(phys, "input", "data", "input data\n");
        var other = StoreDir(phys, "not-an-input", "data", token + "\n");
        var script = Attempts + $"""
            ls {Store}
            try cat cat {Store}/{other}/data
            try see test -e {Store}/{other}
            try physical cat {phys}/{other}/data
            """ + "\n" + Everywhere("grep", token);

        var (result, log) = await RunAsync(Spec(dir, script) with { InputPaths = [$"{Store}/{input}"] });

        Assert.True(result.Succeeded, $"{result}: {log}");
        Assert.StartsWith(input + "\n", log, StringComparison.Ordinal);
        AssertAllDenied(log, "cat", "see", "physical", "grep");
        Assert.DoesNotContain(token, log, StringComparison.Ordinal);
        Assert.Equal(token + "\n", await File.ReadAllTextAsync(Path.Combine(phys, other, "data")));
    }

    [Fact]
    public async Task RunAsync_WriteIntoAnInputPath_ReadOnlyAndTheHostCopyUnchanged()
    {
        using var dir = new TempDirectory("hostile-input");
        var phys = Directory.CreateDirectory(dir.Combine("phys")).FullName;
        var input = StoreDir(phys, "input", "data", "original\n");
        // World-writable on the host: only the sandbox's read-only bind stands between the builder and the file.
        var all = (UnixFileMode)0x1ff;
        File.SetUnixFileMode(Path.Combine(phys, input), all);
        File.SetUnixFileMode(Path.Combine(phys, input, "data"), all);
        var p = $"{Store}/{input}";
        var script = Attempts + $"""
            try overwrite sh -c 'echo changed > {p}/data'
            try append sh -c 'echo changed >> {p}/data'
            try truncate truncate -s 0 {p}/data
            try create touch {p}/new
            try delete rm -f {p}/data
            try rename mv {p}/data {p}/moved
            try chmod chmod 000 {p}/data
            try remount-rw mount -o remount,rw {p}
            try remove-path rm -rf {p}
            try replace-path mv {p} /build/stolen
            cat {p}/data
            """;
        var before = Tree(Path.Combine(phys, input));

        var (result, log) = await RunAsync(Spec(dir, script) with { InputPaths = [p] });

        Assert.True(result.Succeeded, $"{result}: {log}");
        AssertAllDenied(log, "overwrite", "append", "truncate", "create", "delete", "rename", "chmod", "remount-rw", "remove-path", "replace-path");
        Assert.EndsWith("original\n", log, StringComparison.Ordinal);
        Assert.Equal(before, Tree(Path.Combine(phys, input)));
    }

    [Fact]
    public async Task RunAsync_WriteTheHostsTmp_MarkerNeverAppearsOnTheHost()
    {
        using var dir = new TempDirectory("hostile-tmp");
        var token = Token();
        var hostTmp = Path.GetTempPath().TrimEnd('/');
        var script = Attempts + $"""
            echo x > /tmp/{token} && echo wrote-private-tmp
            try host-path sh -c 'echo x > {dir.Path}/{token}'
            try var-tmp sh -c 'echo x > /var/tmp/{token}'
            try dev-shm-host sh -c 'echo x > /run/{token}'
            """;

        var (result, log) = await RunAsync(Spec(dir, script));

        Assert.True(result.Succeeded, $"{result}: {log}");
        Assert.Contains("wrote-private-tmp", log, StringComparison.Ordinal);
        AssertAllDenied(log, "host-path", "var-tmp", "dev-shm-host");
        Assert.False(File.Exists(Path.Combine(hostTmp, token)), "the builder's /tmp marker appeared in the host's /tmp");
        Assert.Empty(Directory.EnumerateFileSystemEntries("/", token, new EnumerationOptions { RecurseSubdirectories = false }));
        Assert.False(File.Exists(Path.Combine(dir.Path, token)));
        Assert.False(File.Exists(Path.Combine("/var/tmp", token)));
        Assert.False(File.Exists(Path.Combine("/run", token)));
    }

    [Fact]
    public async Task RunAsync_WriteIntoAnotherRunningBuild_ItsBuildDirAndOutputUntouched()
    {
        using var dir = new TempDirectory("hostile-neighbour");
        var phys = Directory.CreateDirectory(dir.Combine("phys")).FullName;
        var victimBuild = Directory.CreateDirectory(dir.Combine("builds", "victim")).FullName;
        var victimOut = $"{Store}/{Hash()}-victim-out";
        var victimLog = new LogCollector();
        var victim = new SandboxRunner(BuilderTestKit.Sandbox).RunAsync(BuilderTestKit.Shell(
            $"echo mine > {victimOut}; echo mine > /build/file; echo ready; while [ ! -e /build/go ]; do /bin/busybox sleep 0.05; done; cat {victimOut} /build/file",
            victimBuild, phys) with { OutputPaths = [victimOut] }, victimLog.OnLog, CancellationToken.None);
        await victimLog.WaitForAsync("ready", victim);
        var victimArea = victimBuild + ".sandbox";
        var script = Attempts + $"""
            try build-dir sh -c 'echo evil > {victimBuild}/file'
            try build-dir-new sh -c 'echo evil > {victimBuild}/evil'
            try area-output sh -c 'echo evil > {victimArea}/store/{Path.GetFileName(victimOut)}'
            try area-tmp sh -c 'echo evil > {victimArea}/tmp/evil'
            try physical-output sh -c 'echo evil > {phys}/{Path.GetFileName(victimOut)}'
            kill -9 -1 || true
            """;

        var (result, log) = await RunAsync(BuilderTestKit.Shell(script, Directory.CreateDirectory(dir.Combine("builds", "attacker")).FullName, phys));
        await File.WriteAllTextAsync(Path.Combine(victimBuild, "go"), "");
        var victimResult = await victim;

        Assert.True(result.Succeeded, $"{result}: {log}");
        AssertAllDenied(log, "build-dir", "build-dir-new", "area-output", "area-tmp", "physical-output");
        Assert.True(victimResult.Succeeded, $"{victimResult}: {victimLog.Text}");
        Assert.Equal("ready\nmine\nmine\n", victimLog.Text);
        Assert.Equal("mine\n", await File.ReadAllTextAsync(Path.Combine(phys, Path.GetFileName(victimOut))));
        Assert.False(File.Exists(Path.Combine(victimBuild, "evil")));
    }

    [Fact]
    public async Task RunAsync_MountUnmountUnshareNsenterChroot_AllFailAndTheHostsMountsUnchanged()
    {
        using var dir = new TempDirectory("hostile-mount");
        var phys = Directory.CreateDirectory(dir.Combine("phys")).FullName;
        var input = StoreDir(phys, "input", "data", "still here\n");
        const string Echo = "/bin/busybox echo ESCAPED";
        var script = Attempts + $"""
            mkdir /build/m /build/old
            try mount-tmpfs mount -t tmpfs none /build/m
            try mount-proc mount -t proc proc /build/m
            try bind mount --bind /build /build/m
            try remount-root-rw mount -o remount,rw /
            try umount-store umount {Store}
            try umount-store-lazy umount -l {Store}
            try umount-input umount -l {Store}/{input}
            try umount-proc umount /proc
            try umount-proc-lazy umount -l /proc
            try unshare-user unshare -U {Echo}
            try unshare-root unshare -r {Echo}
            try unshare-mount unshare -m {Echo}
            try unshare-net unshare -n {Echo}
            try unshare-pid unshare -p -f {Echo}
            try nsenter-own-mount nsenter -t 1 -m {Echo}
            try nsenter-own-user nsenter -t 1 -U {Echo}
            try nsenter-worker nsenter -t {Environment.ProcessId} -a {Echo}
            try chroot chroot /build {Echo}
            try pivot-root pivot_root /build /build/old
            cat {Store}/{input}/data
            grep -c . /proc/self/mountinfo >/dev/null && echo proc-still-mounted
            """;
        var hostMounts = BuilderTestKit.HostMounts();

        var (result, log) = await RunAsync(Spec(dir, script) with { InputPaths = [$"{Store}/{input}"] });

        Assert.True(result.Succeeded, $"{result}: {log}");
        AssertAllDenied(log, "mount-tmpfs", "mount-proc", "bind", "remount-root-rw", "umount-store", "umount-store-lazy", "umount-input", "umount-proc",
            "umount-proc-lazy", "unshare-user", "unshare-root", "unshare-mount", "unshare-net", "unshare-pid", "nsenter-own-mount", "nsenter-own-user",
            "nsenter-worker", "chroot", "pivot-root");
        Assert.DoesNotContain("ESCAPED", log, StringComparison.Ordinal);
        Assert.EndsWith("still here\nproc-still-mounted\n", log, StringComparison.Ordinal);
        Assert.Equal(hostMounts, BuilderTestKit.HostMounts());
    }

    [Fact]
    public async Task RunAsync_SignalOrTraceTheWorker_NoSuchProcessAndOnlyTheBuildsOwnProcessesVisible()
    {
        using var dir = new TempDirectory("hostile-signal");
        var self = Environment.ProcessId;
        using var victim = Process.Start(BuilderTestKit.Busybox, ["sleep", "1000"]);
        var ptrace = SetuidProbe.Compile(dir.Combine("ptrace"), SetuidProbe.PtraceSource);
        var settings = BuilderTestKit.Sandbox with { ExtraPaths = [.. BuilderTestKit.Sandbox.ExtraPaths, new ExtraPath("/bin/ptrace", ptrace)] };
        try
        {
            var script = Attempts + $"""
                try ptrace-worker /bin/ptrace {self}
                try ptrace-victim /bin/ptrace {victim.Id}
                try probe-worker kill -0 {self}
                try stop-worker kill -STOP {self}
                try kill-victim kill -9 {victim.Id}
                try kill-all kill -9 -1
                try trace-worker cat /proc/{self}/mem
                try worker-environ cat /proc/{self}/environ
                try worker-status test -e /proc/{self}
                for p in /proc/[0-9]*; do echo "PROC $(basename $p) $(tr '\0' ' ' < $p/cmdline)"; done
                """;
            Assert.True(self > 64 && victim.Id > 64, "the test's pids must not be ones the build's own processes could have inside");

            var (result, log) = await RunAsync(Spec(dir, script), settings);

            Assert.True(result.Succeeded, $"{result}: {log}");
            AssertAllDenied(log, "ptrace-worker", "ptrace-victim", "probe-worker", "stop-worker", "kill-victim", "trace-worker", "worker-environ", "worker-status");
            Assert.Matches(@"ptrace-worker:denied ptrace \d+: No such process", log);
            Assert.Matches(@"probe-worker:denied .*No such process", log);
            Assert.False(victim.HasExited, "the builder killed a process of the host");
            Assert.DoesNotMatch(@"(?m)^State:\s+T", await File.ReadAllTextAsync("/proc/self/status"));
            var seen = Regex.Matches(log, @"^PROC (\d+) (.*)$", RegexOptions.Multiline);
            Assert.InRange(seen.Count, 1, 8);
            // Only the builder and its children: busybox, started with its base name as argv[0] (as Nix starts builders).
            Assert.All(seen, m => Assert.StartsWith(Path.GetFileName(BuilderTestKit.Busybox) + " ", m.Groups[2].Value, StringComparison.Ordinal));
            Assert.Contains(seen, m => m.Groups[1].Value == "1");
        }
        finally
        {
            victim.Kill();
        }
    }

    [Fact]
    public async Task RunAsync_ConnectToAHostListener_RefusedAndTheListenerSeesNothing()
    {
        using var dir = new TempDirectory("hostile-listener");
        using var listener = new TcpListener(IPAddress.IPv6Any, 0);
        listener.Server.DualMode = true;
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        // Every address of the host, not only its loopback.
        var addresses = NetworkInterface.GetAllNetworkInterfaces().SelectMany(i => i.GetIPProperties().UnicastAddresses)
            .Select(a => a.Address).Where(a => a.AddressFamily == AddressFamily.InterNetwork).Select(a => a.ToString()).Append("127.0.0.1").Distinct().ToList();
        var script = Attempts + string.Concat(addresses.Select((a, i) => $"try tcp{i} sh -c 'echo hello | nc -w 2 {a} {port}'\n"))
            + $"try tcp-v6 sh -c 'echo hello | nc -w 2 ::1 {port}'\n";

        var (result, log) = await RunAsync(Spec(dir, script));

        Assert.True(result.Succeeded, $"{result}: {log}");
        AssertAllDenied(log, [.. addresses.Select((_, i) => $"tcp{i}"), "tcp-v6"]);
        Assert.False(listener.Pending(), "a sandboxed builder reached a listener of the host");
    }

    [Fact]
    public async Task RunAsync_DaemonLeftRunning_NothingOfTheBuildOutlivesIt()
    {
        using var dir = new TempDirectory("hostile-daemon");
        var build = Directory.CreateDirectory(dir.Combine("build")).FullName;
        var token = Token();
        // The token is put together by the shell: only the daemons' command lines hold it whole, not the builder's.
        var script = $"""
            a={token[..8]}; b={token[8..]}
            setsid /bin/busybox sh -c "sleep 1000; : $a$b-setsid" &
            /bin/busybox sh -c "trap '' HUP; sleep 1000; : $a$b-nohup" </dev/null >/dev/null 2>&1 &
            ( ( /bin/busybox sh -c "trap '' HUP TERM INT; sleep 1000; : $a$b-double" & ) & )
            echo started
            while [ ! -e /build/go ]; do sleep 0.05; done
            exit 0
            """;
        var log = new LogCollector();

        var run = new SandboxRunner(BuilderTestKit.Sandbox).RunAsync(BuilderTestKit.Shell(script, build, dir.Path), log.OnLog, CancellationToken.None);
        await log.WaitForAsync("started", run);
        var buildUid = BuilderTestKit.Owner(build);
        // Each daemon by its own suffix (a shell's child shows its parent's command line for a moment before it execs sleep).
        Assert.Equal(3, await WaitForCountAsync(() => BuilderTestKit.LiveProcessesWith(token).Select(CommandLine).Where(c => c.Contains(token, StringComparison.Ordinal)).Distinct().Count(), 3));
        Assert.NotEmpty(ProcessesOfUid(buildUid));
        await File.WriteAllTextAsync(Path.Combine(build, "go"), "");
        var result = await run;

        Assert.True(result.Succeeded, $"{result}: {log.Text}");
        Assert.Empty(BuilderTestKit.LiveProcessesWith(token));
        Assert.Empty(ProcessesOfUid(buildUid));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task RunAsync_ForkBomb_BuildEndsAndNoProcessOfTheBuildUserRemains(bool nativeLauncher)
    {
        using var dir = new TempDirectory("hostile-forkbomb");
        var build = Directory.CreateDirectory(dir.Combine("build")).FullName;
        const int Limit = 64;
        var settings = BuilderTestKit.Sandbox with { MaxProcesses = Limit, NativeLauncher = nativeLauncher };
        var log = new LogCollector();
        var spec = BuilderTestKit.Shell("echo bombing; f(){ f|f& }; f; sleep 1000", build, dir.Path, timeout: TimeSpan.FromSeconds(8));

        var run = new SandboxRunner(settings).RunAsync(spec, log.OnLog, CancellationToken.None);
        await log.WaitForAsync("bombing", run);
        var buildUid = BuilderTestKit.Owner(build);
        var most = 0;
        while (!run.IsCompleted)
        {
            most = Math.Max(most, ProcessesOfUid(buildUid).Count);
            await Task.Delay(20);
        }

        var result = await run;

        Assert.False(result.Succeeded, $"{result}: {log.Text[..Math.Min(2000, log.Text.Length)]}");
        Assert.InRange(result.Elapsed, TimeSpan.Zero, TimeSpan.FromSeconds(60));
        Assert.InRange(most, 2, Limit);
        // Killed with the PID namespace, though a busy machine may take a moment to reap thousands of them.
        Assert.Empty(await EventuallyNoneOfUidAsync(buildUid, TimeSpan.FromSeconds(10)));
        using var alive = Process.Start("/bin/true");
        await alive.WaitForExitAsync();
        Assert.Equal(0, alive.ExitCode);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task RunAsync_OneFileLargerThanTheDiskLimit_LimitExceededNamingTheSetting(bool nativeLauncher)
    {
        using var dir = new TempDirectory("hostile-bigfile");
        var build = Directory.CreateDirectory(dir.Combine("build")).FullName;
        var settings = BuilderTestKit.Sandbox with { MaxDiskBytes = 16 * MiB, NativeLauncher = nativeLauncher };

        var (result, log) = await RunAsync(BuilderTestKit.Shell("dd if=/dev/zero of=/build/big bs=1048576 count=64", build, dir.Path), settings);

        Assert.True(result.Outcome == BuilderOutcome.LimitExceeded, $"{result}: {log}");
        Assert.Contains("Sandbox:MaxDiskBytes", result.Error, StringComparison.Ordinal);
        Assert.InRange(new FileInfo(Path.Combine(build, "big")).Length, 0, (16 * MiB) + 1);
        Assert.DoesNotContain("64+0 records out", log, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task RunAsync_ManyFilesOverTheDiskLimit_LimitExceededAndNoOutputClaimed(bool exitAtOnce)
    {
        using var dir = new TempDirectory("hostile-manyfiles");
        var phys = Directory.CreateDirectory(dir.Combine("phys")).FullName;
        var build = Directory.CreateDirectory(dir.Combine("build")).FullName;
        var output = $"{Store}/{Hash()}-out";
        // 64 MiB in 1 MiB files spread over every place the build may write: no file is over RLIMIT_FSIZE, only the
        // watch of the whole build's use catches it: while the builder runs (it lingers), or, when it exits before the
        // watch's first look, the last look after the exit.
        var settings = BuilderTestKit.Sandbox with { MaxDiskBytes = 16 * MiB, DiskCheckInterval = exitAtOnce ? TimeSpan.FromHours(1) : TimeSpan.FromMilliseconds(50) };
        var script = $"""
            mkdir {output}
            i=0
            while [ $i -lt 22 ]; do
              dd if=/dev/zero of=/build/f$i bs=1048576 count=1 2>/dev/null
              dd if=/dev/zero of=/tmp/f$i bs=1048576 count=1 2>/dev/null
              dd if=/dev/zero of={output}/f$i bs=1048576 count=1 2>/dev/null
              i=$((i+1))
            done
            {(exitAtOnce ? "exit 0" : "sleep 30")}
            """;

        var (result, _) = await RunAsync(BuilderTestKit.Shell(script, build, phys) with { OutputPaths = [output] }, settings);

        Assert.Equal(BuilderOutcome.LimitExceeded, result.Outcome);
        Assert.Contains("Sandbox:MaxDiskBytes", result.Error, StringComparison.Ordinal);
        Assert.InRange(result.Elapsed, TimeSpan.Zero, TimeSpan.FromSeconds(25));
        Assert.Empty(Directory.GetFileSystemEntries(phys));
        Assert.False(Directory.Exists(build + ".sandbox"), "the sandbox's private root was left behind");
    }

    [Fact]
    public async Task RunAsync_FillDevShmPastTheDiskLimit_StoppedAtTheLimit()
    {
        using var dir = new TempDirectory("hostile-shm");
        var settings = BuilderTestKit.Sandbox with { MaxDiskBytes = 16 * MiB };
        // /dev/shm is memory the disk watch cannot see: only its size stops the builder.
        var script = """
            i=0
            while [ $i -lt 64 ] && dd if=/dev/zero of=/dev/shm/f$i bs=1048576 count=1 2>/dev/null; do i=$((i+1)); done
            echo "kib $(du -sk /dev/shm | cut -f1)"
            """;

        var (result, log) = await RunAsync(Spec(dir, script), settings);

        Assert.True(result.Succeeded, $"{result}: {log}");
        var kib = long.Parse(Regex.Match(log, @"kib (\d+)").Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(kib * 1024, 0, 16 * MiB);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task RunAsync_CapabilitiesAndIds_NoneInsideAndAnUnprivilegedBuildUserOnTheHost(bool nativeLauncher)
    {
        using var dir = new TempDirectory("hostile-caps");
        var build = Directory.CreateDirectory(dir.Combine("build")).FullName;
        var token = Token();
        var script = $"""
            grep -E '^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs):' /proc/self/status
            echo "ids $(id -u) $(id -g) $(id -G)"
            a={token[..8]}; b={token[8..]}
            /bin/busybox sh -c "echo ready; while [ ! -e /build/go ]; do sleep 0.05; done; : $a$b"
            """;
        var log = new LogCollector();

        var run = new SandboxRunner(BuilderTestKit.Sandbox with { NativeLauncher = nativeLauncher }).RunAsync(BuilderTestKit.Shell(script, build, dir.Path), log.OnLog, CancellationToken.None);
        await log.WaitForAsync("ready", run);
        // The shell, and for a moment each child it forks before that execs sleep: the one whose parent is not among them.
        var found = BuilderTestKit.LiveProcessesWith(token);
        var pid = found.First(p => !found.Contains(ParentOf(p)));
        var host = (await File.ReadAllLinesAsync($"/proc/{pid}/status")).Select(l => l.Split(':', 2)).ToDictionary(p => p[0], p => p[1].Trim());
        await File.WriteAllTextAsync(Path.Combine(build, "go"), "");
        var result = await run;

        Assert.True(result.Succeeded, $"{result}: {log.Text}");
        foreach (var set in new[] { "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb" })
            Assert.Matches($@"(?m)^{set}:\s+0000000000000000$", log.Text);
        Assert.Matches(@"(?m)^NoNewPrivs:\s+1$", log.Text);
        Assert.Contains("ids 1000 100 100\n", log.Text, StringComparison.Ordinal);
        // The host's view of the same process: a build user's uid, no capability, no_new_privs.
        var uids = host["Uid"].Split('\t', StringSplitOptions.RemoveEmptyEntries).Select(long.Parse).ToArray();
        Assert.All(uids, u => Assert.True(u >= BuilderTestKit.Sandbox.FirstUid, $"the builder runs as host uid {u}"));
        Assert.All(host["Gid"].Split('\t', StringSplitOptions.RemoveEmptyEntries).Select(long.Parse), g => Assert.True(g >= BuilderTestKit.Sandbox.FirstUid, $"the builder runs as host gid {g}"));
        Assert.Equal("", host["Groups"]);
        Assert.Equal("0000000000000000", host["CapPrm"]);
        Assert.Equal("0000000000000000", host["CapEff"]);
        Assert.Equal("0000000000000000", host["CapAmb"]);
        Assert.Equal("1", host["NoNewPrivs"]);
    }

    [Fact]
    public async Task RunAsync_SetuidRootBinaryVisibleInside_GivesNoPrivilege()
    {
        using var dir = new TempDirectory("hostile-setuid");
        var probe = SetuidProbe.Build(dir.Combine("probe"));
        // The binary really is a way to root on the host: an unprivileged user running it gets euid 0.
        Assert.Contains("euid=0", SetuidProbe.RunAsUser(probe, 61000), StringComparison.Ordinal);
        var settings = BuilderTestKit.Sandbox with { ExtraPaths = [.. BuilderTestKit.Sandbox.ExtraPaths, new ExtraPath("/bin/suid-probe", probe)] };
        var script = Attempts + """
            /bin/suid-probe
            cp /bin/suid-probe /build/copy && chmod u+s /build/copy; /build/copy
            try regain-root sh -c '/bin/suid-probe | grep -q "euid=0"'
            """;

        var (result, log) = await RunAsync(Spec(dir, script), settings);

        Assert.True(result.Succeeded, $"{result}: {log}");
        AssertAllDenied(log, "regain-root");
        Assert.Equal(2, Regex.Count(log, "ruid=1000 euid=1000 setuid0=-1"));
        Assert.DoesNotContain("euid=0", log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_OutputWithSetuidAndSetgidFiles_ClaimedIntoTheStoreWithoutThoseBits()
    {
        using var dir = new TempDirectory("hostile-suid-out");
        var phys = Directory.CreateDirectory(dir.Combine("phys")).FullName;
        var output = $"{Store}/{Hash()}-out";
        // chmod may be refused (a seccomp filter forbids setuid bits): the builder reports what it achieved.
        var script = $"""
            mkdir -p {output}/bin {output}/dir
            for m in 4755 2755 6755 4711 2711 6777; do cp /bin/busybox {output}/bin/m$m; chmod $m {output}/bin/m$m; done
            chmod 2755 {output}/dir
            stat -c '%a %n' {output}/bin/* {output}/dir
            """;

        var (result, log) = await RunAsync(Spec(dir, script, phys) with { OutputPaths = [output] });

        Assert.True(result.Succeeded, $"{result}: {log}");
        var claimed = Path.Combine(phys, Path.GetFileName(output));
        foreach (var entry in new DirectoryInfo(claimed).EnumerateFileSystemInfos("*", SearchOption.AllDirectories).Append(new DirectoryInfo(claimed)))
        {
            Assert.Equal(0, BuilderTestKit.Owner(entry.FullName));
            Assert.False((entry.UnixFileMode & (UnixFileMode.SetUser | UnixFileMode.SetGroup)) != 0 && entry is FileInfo,
                $"{entry.FullName} reached the store owned by root with mode {entry.UnixFileMode}");
        }
    }

    [Fact]
    public async Task RunAsync_SymlinksToHostFilesInOutputsBuildDirAndTmp_HostFilesNeitherChownedNorDeleted()
    {
        using var dir = new TempDirectory("hostile-symlink");
        var phys = Directory.CreateDirectory(dir.Combine("phys")).FullName;
        var build = Directory.CreateDirectory(dir.Combine("build")).FullName;
        // A host directory owned by someone else: following a link while taking the build's files back would chown or delete it.
        var victim = Directory.CreateDirectory(dir.Combine("victim")).FullName;
        await File.WriteAllTextAsync(Path.Combine(victim, "file"), "keep\n");
        foreach (var path in new[] { victim, Path.Combine(victim, "file") })
            Ownership.Change(path, 61001, 61001);
        var output = $"{Store}/{Hash()}-out";
        var script = $"""
            mkdir {output}
            ln -s {victim} {output}/dir-link
            ln -s {victim}/file {output}/file-link
            ln -s {victim} /tmp/dir-link
            ln -s {victim} /build/dir-link
            mkdir -p /tmp/locked/inner && ln -s {victim} /tmp/locked/inner/link && chmod 000 /tmp/locked/inner /tmp/locked
            """;

        var (result, log) = await RunAsync(BuilderTestKit.Shell(script, build, phys) with { OutputPaths = [output] });

        Assert.True(result.Succeeded, $"{result}: {log}");
        Assert.Equal("keep\n", await File.ReadAllTextAsync(Path.Combine(victim, "file")));
        Assert.Equal("61001 61001", $"{BuilderTestKit.Owner(victim)} {BuilderTestKit.Owner(Path.Combine(victim, "file"))}");
        Assert.Equal(victim, new FileInfo(Path.Combine(phys, Path.GetFileName(output), "dir-link")).LinkTarget);
        Assert.False(Directory.Exists(build + ".sandbox"), "the sandbox's private root was left behind");
    }

    /// <summary>An attempt that searches every file the builder can see (but /proc and /dev, whose files never end) for <paramref name="token"/>.</summary>
    private static string Everywhere(string name, string token) =>
        $"try {name} sh -c 'for d in /* /dev/shm; do case $d in /proc|/dev) continue;; esac; grep -rqs {token} \"$d\" && exit 0; done; exit 1'\n";

    [Fact]
    public async Task RunAsync_SymlinkToTheHostsRootUnderADiskLimit_HostFilesNotCountedAsTheBuilds()
    {
        using var dir = new TempDirectory("hostile-disklink");
        var settings = BuilderTestKit.Sandbox with { MaxDiskBytes = 16 * MiB, DiskCheckInterval = TimeSpan.FromMilliseconds(50) };
        // Followed, the link would make every look of the watch walk the host's whole file system (and count it).
        var (result, log) = await RunAsync(Spec(dir, "ln -s / /build/host-root; ln -s /usr /tmp/host-usr; sleep 1; echo done"), settings);

        Assert.True(result.Succeeded, $"{result}: {log}");
        Assert.Equal("done\n", log);
    }

    [Fact]
    public async Task TryDelete_BuildDirWithASymlinkToAHostDirectory_HostDirectoryModesUntouched()
    {
        using var dir = new TempDirectory("hostile-deletelink");
        var build = Directory.CreateDirectory(dir.Combine("builds", "b")).FullName;
        var victim = Directory.CreateDirectory(dir.Combine("victim", "private")).FullName;
        File.SetUnixFileMode(victim, UnixFileMode.UserRead | UnixFileMode.UserExecute);
        var (result, log) = await RunAsync(BuilderTestKit.Shell($"ln -s {Path.GetDirectoryName(victim)} /build/link", build, dir.Path));
        Assert.True(result.Succeeded, $"{result}: {log}");

        BuildFarm.Worker.Execution.BuildDirectories.TryDelete(build);

        Assert.False(Directory.Exists(build));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserExecute, File.GetUnixFileMode(victim));
    }

    /// <summary>
    /// Not an attack, found by this suite (builds died at random with exit 137): bubblewrap's --die-with-parent is
    /// PR_SET_PDEATHSIG, which fires when the parent THREAD exits; builds start on whichever thread-pool thread called
    /// RunAsync, and the pool retires idle threads. A build must not die with the thread that started it.
    /// </summary>
    [Fact]
    public async Task RunAsync_StartedOnAThreadThatThenExits_BuildRunsToItsEnd()
    {
        using var dir = new TempDirectory("hostile-thread");
        var log = new LogCollector();
        Task<BuilderResult>? run = null;
        // The thread lives on until bubblewrap has surely armed its death signal, then ends while the build runs.
        var starter = new Thread(() =>
        {
            run = new SandboxRunner(BuilderTestKit.Sandbox).RunAsync(
                BuilderTestKit.Shell("echo started; sleep 2; echo survived", Directory.CreateDirectory(dir.Combine("build")).FullName, dir.Path), log.OnLog, CancellationToken.None);
            log.WaitForAsync("started", run).GetAwaiter().GetResult();
            Thread.Sleep(200);
        });
        starter.Start();
        starter.Join();

        var result = await run!;

        Assert.True(result.Succeeded, $"{result}: {log.Text}");
        Assert.Equal("started\nsurvived\n", log.Text);
    }

    private static BuilderSpec Spec(TempDirectory dir, string script, string? phys = null) =>
        BuilderTestKit.Shell(script, Directory.CreateDirectory(dir.Combine("builds", "b")).FullName, phys ?? Directory.CreateDirectory(dir.Combine("phys")).FullName);

    private static async Task<(BuilderResult Result, string Log)> RunAsync(BuilderSpec spec, SandboxSettings? settings = null)
    {
        var log = new LogCollector();
        var result = await new SandboxRunner(settings ?? BuilderTestKit.Sandbox).RunAsync(spec, log.OnLog, CancellationToken.None);
        return (result, log.Text);
    }

    /// <summary>Every named attempt was made and denied, and no attempt at all was allowed.</summary>
    internal static void AssertAllDenied(string log, params string[] names)
    {
        Assert.DoesNotMatch(@"(?m)^\S+:ALLOWED", log);
        foreach (var name in names)
            Assert.True(Regex.IsMatch(log, $"(?m)^{Regex.Escape(name)}:denied"), $"attempt '{name}' was not made; log: {log}");
    }

    private static string Token() => "hostile-" + Guid.NewGuid().ToString("N");

    private static string Hash() => Guid.NewGuid().ToString("N");

    /// <summary>A store directory NAME/FILE in the physical store, root's like every store path; returns its store name.</summary>
    private static string StoreDir(string phys, string suffix, string file, string content)
    {
        var name = $"{Hash()}-{suffix}";
        var path = Directory.CreateDirectory(Path.Combine(phys, name)).FullName;
        File.WriteAllText(Path.Combine(path, file), content);
        File.SetUnixFileMode(Path.Combine(path, file), UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        return name;
    }

    /// <summary>Every entry under <paramref name="root"/> with its mode, owner and content: equal before and after = untouched.</summary>
    private static string[] Tree(string root) =>
        [.. new DirectoryInfo(root).EnumerateFileSystemInfos("*", SearchOption.AllDirectories).Append(new DirectoryInfo(root))
            .Select(e => $"{e.FullName} {e.UnixFileMode} {BuilderTestKit.Owner(e.FullName)} {(e is FileInfo f ? File.ReadAllText(f.FullName) : "")}")
            .Order(StringComparer.Ordinal)];

    /// <summary>Pids of the host's live processes whose real uid is <paramref name="uid"/>.</summary>
    private static async Task<IReadOnlyList<int>> EventuallyNoneOfUidAsync(long uid, TimeSpan patience)
    {
        var until = DateTime.UtcNow + patience;
        while (ProcessesOfUid(uid) is { Count: > 0 } left)
        {
            if (DateTime.UtcNow > until)
                return left;
            await Task.Delay(50);
        }

        return [];
    }

    internal static IReadOnlyList<int> ProcessesOfUid(long uid)
    {
        var found = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid))
                continue;
            try
            {
                var status = File.ReadAllLines(Path.Combine(dir, "status"));
                var state = status.First(l => l.StartsWith("State:", StringComparison.Ordinal));
                var real = status.First(l => l.StartsWith("Uid:", StringComparison.Ordinal)).Split('\t', StringSplitOptions.RemoveEmptyEntries)[1];
                if (real == uid.ToString(System.Globalization.CultureInfo.InvariantCulture) && !state.Contains('Z', StringComparison.Ordinal))
                    found.Add(pid);
            }
            catch (IOException)
            {
                // Gone while we looked.
            }
        }

        return found;
    }

    private static string CommandLine(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/cmdline");
        }
        catch (IOException)
        {
            return "";
        }
    }

    private static int ParentOf(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        return int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
    }

    private static async Task<int> WaitForCountAsync(Func<int> count, int wanted)
    {
        var deadline = DateTime.UtcNow + BuilderTestKit.LogWait;
        while (count() < wanted && DateTime.UtcNow < deadline)
            await Task.Delay(50);
        return count();
    }
}
