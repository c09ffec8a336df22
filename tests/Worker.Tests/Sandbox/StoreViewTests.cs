using BuildFarm.Testing;
using BuildFarm.Worker.Sandbox;
using BuildFarm.Worker.Tests.Supervision;

namespace BuildFarm.Worker.Tests.Sandbox;

public sealed class StoreViewTests
{
    private const string HostStore = "/nix/store";

    [Fact]
    public void Supported_WorkerAsRoot_True()
    {
        // The tests run as root, as the worker does: every sandboxed test below goes through the store view, never
        // through bubblewrap's per-input binds without saying so.
        Assert.True(StoreView.Supported);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task RunAsync_300Inputs_EachReadOnlyAsInTheStoreAndTheHostMountsUnchanged(bool overlay)
    {
        using var dir = new TempDirectory("sbx-view");
        var phys = Directory.CreateDirectory(dir.Combine("phys")).FullName;
        var build = Directory.CreateDirectory(dir.Combine("builds", "b")).FullName;
        var prefix = $"{Guid.NewGuid():N}"[..24];
        var names = new List<string>();
        for (var i = 0; i < 300; i++)
        {
            var name = $"{prefix}{i:D8}-in";
            names.Add(name);
            if (i % 3 == 0)
            {
                await File.WriteAllTextAsync(Path.Combine(phys, name), $"file {i}\n");
            }
            else
            {
                Directory.CreateDirectory(Path.Combine(phys, name));
                await File.WriteAllTextAsync(Path.Combine(phys, name, "data"), $"dir {i}\n");
            }
        }

        // A symlink in the store stays a symlink (relative, into another input), as in Nix's sandbox.
        var link = $"{prefix}99999999-link";
        File.CreateSymbolicLink(Path.Combine(phys, link), $"{names[1]}/data");
        var other = $"{prefix}77777777-not-an-input";
        Directory.CreateDirectory(Path.Combine(phys, other));
        var hostMounts = BuilderTestKit.HostMounts();
        var log = new LogCollector();
        var script = string.Join("; ",
            "ls /nix/store | wc -l",
            $"cat /nix/store/{names[0]} /nix/store/{names[1]}/data /nix/store/{names[299]}/data",
            $"readlink /nix/store/{link}; cat /nix/store/{link}",
            $"ls /nix/store/{other} || echo hidden",
            $"echo x > /nix/store/{names[0]} || echo file-read-only",
            $"echo x > /nix/store/{names[1]}/new || echo dir-read-only",
            $"umount /nix/store/{names[1]} || echo mount-locked",
            $"mount -o remount,rw /nix/store/{names[1]} || mount -o remount,bind,rw /nix/store/{names[1]} || echo remount-denied",
            $"echo x > /nix/store/{names[1]}/data || echo still-read-only",
            $"rmdir /nix/store/{names[2]} || mv /nix/store/{names[2]} /nix/store/moved || echo mount-point-kept");
        var spec = BuilderTestKit.Shell(script, build, phys) with { InputPaths = [.. names.Append(link).Select(n => $"{HostStore}/{n}")] };

        var result = await new SandboxRunner(BuilderTestKit.Sandbox with { OverlayStore = overlay }).RunAsync(spec, log.OnLog, CancellationToken.None);

        Assert.True(result.Succeeded, $"{result}: {log.Text}");
        var lines = log.Text.Split('\n');
        Assert.Equal("301", lines[0].Trim());
        Assert.Equal(["file 0", "dir 1", "dir 299", $"{names[1]}/data", "dir 1"], lines[1..6]);
        foreach (var marker in new[] { "hidden", "file-read-only", "dir-read-only", "mount-locked", "remount-denied", "still-read-only", "mount-point-kept" })
            Assert.Contains(marker + "\n", log.Text, StringComparison.Ordinal);
        Assert.Equal("file 0\n", await File.ReadAllTextAsync(Path.Combine(phys, names[0])));
        Assert.False(File.Exists(Path.Combine(phys, names[1], "new")));
        Assert.Equal("dir 1\n", await File.ReadAllTextAsync(Path.Combine(phys, names[1], "data")));
        Assert.Equal(hostMounts, BuilderTestKit.HostMounts());
        Assert.False(Directory.Exists(build + ".sandbox"), "the sandbox's private root was left behind");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task RunAsync_WhileTheBuildRuns_MountPointsOnDiskOnlyWithoutTheOverlay(bool overlay)
    {
        using var dir = new TempDirectory("sbx-view-disk");
        using var gate = BuilderScratch.Create("sbx-view-gate");
        var phys = Directory.CreateDirectory(dir.Combine("phys")).FullName;
        var build = Directory.CreateDirectory(dir.Combine("builds", "b")).FullName;
        var prefix = $"{Guid.NewGuid():N}"[..24];
        string[] inputs = [.. Enumerable.Range(0, StoreView.OverlayFrom).Select(i => $"{prefix}{i:D8}-in")];
        foreach (var input in inputs)
            Directory.CreateDirectory(Path.Combine(phys, input));
        var output = $"{HostStore}/{prefix}99999999-out";
        var go = Path.Combine(gate.Path, "go");
        var spec = BuilderTestKit.Shell($"echo x > $out; echo ready; while [ ! -e {go} ]; do sleep 0.05; done; ls /nix/store | wc -l", build, phys) with
        {
            InputPaths = [.. inputs.Select(i => $"{HostStore}/{i}")], OutputPaths = [output], Env = new Dictionary<string, string> { ["out"] = output },
        };
        var settings = BuilderTestKit.Sandbox with { OverlayStore = overlay, ExtraPaths = [.. BuilderTestKit.Sandbox.ExtraPaths, new ExtraPath(gate.Path, gate.Path)] };
        var log = new LogCollector();

        var running = new SandboxRunner(settings).RunAsync(spec, log.OnLog, CancellationToken.None);
        await log.WaitForAsync("ready\n", running);
        // The store directory on the host while the builder runs: its output and, on disk only, a mount point per input.
        var onDisk = Directory.EnumerateFileSystemEntries(build + ".sandbox/store").Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
        await File.WriteAllTextAsync(go, "");
        var result = await running;

        Assert.True(result.Succeeded, $"{result}: {log.Text}");
        Assert.EndsWith($"{inputs.Length + 1}\n", log.Text, StringComparison.Ordinal);
        Assert.Equal(overlay ? [Path.GetFileName(output)] : [.. inputs, Path.GetFileName(output)], onDisk);
        Assert.Equal("x\n", await File.ReadAllTextAsync(Path.Combine(phys, Path.GetFileName(output))));
    }

    [Fact]
    public async Task RunAsync_RootLaidOutByTheWorkerOrByBubblewrap_SameEntriesModesAndMountFlags()
    {
        using var dir = new TempDirectory("sbx-view-root");
        var phys = Directory.CreateDirectory(dir.Combine("phys")).FullName;
        // Enough inputs for the overlay (StoreView.OverlayFrom).
        var prefix = $"{Guid.NewGuid():N}"[..24];
        string[] inputs = [.. Enumerable.Range(0, StoreView.OverlayFrom).Select(i => $"{prefix}{i:D8}-in")];
        foreach (var input in inputs)
            Directory.CreateDirectory(Path.Combine(phys, input));
        // Mount points and their per-mount flags (not the file system: the worker's store directory is an overlay),
        // the entries of /, /dev and the store, and the modes of what bubblewrap would have made.
        const string Script = """
            ls -A / /dev /nix/store
            for p in / /dev /dev/shm /dev/pts /build /tmp /nix/store /etc /proc; do stat -c '%n %a' $p; done
            while read -r id parent dev root point options rest; do echo "$point $options"; done < /proc/self/mountinfo | sort
            echo x > /dev/null && echo null-writable
            echo x > /dev/shm/f && echo shm-writable
            echo x > /f || echo root-read-only
            echo x > /dev/f || echo dev-read-only
            echo built > $out
            """;

        async Task<string> RunAsync(bool workersRoot)
        {
            var build = Directory.CreateDirectory(dir.Combine("builds", workersRoot ? "worker" : "bwrap")).FullName;
            var output = $"{HostStore}/{"0".PadLeft(32, '0')}-{(workersRoot ? "worker" : "bwrap")}";
            var spec = BuilderTestKit.Shell(Script, build, phys) with
            {
                InputPaths = [.. inputs.Select(i => $"{HostStore}/{i}")], OutputPaths = [output], Env = new Dictionary<string, string> { ["out"] = output },
            };
            var log = new LogCollector();
            var result = await new SandboxRunner(BuilderTestKit.Sandbox with { PrivateStoreMounts = workersRoot }).RunAsync(spec, log.OnLog, CancellationToken.None);
            Assert.True(result.Succeeded, $"{result}: {log.Text}");
            Assert.Equal("built\n", await File.ReadAllTextAsync(Path.Combine(phys, Path.GetFileName(output))));
            return log.Text.Replace(build, "BUILD", StringComparison.Ordinal);
        }

        var byBubblewrap = await RunAsync(workersRoot: false);
        var byWorker = await RunAsync(workersRoot: true);

        Assert.Equal(byBubblewrap, byWorker);
        foreach (var marker in new[] { "null-writable", "shm-writable", "root-read-only", "dev-read-only" })
            Assert.Contains(marker + "\n", byWorker, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task RunAsync_EitherWayOfMounting_SameInputsVisibleReadOnly(bool privateStoreMounts)
    {
        using var dir = new TempDirectory("sbx-view-either");
        var phys = Directory.CreateDirectory(dir.Combine("phys")).FullName;
        var build = Directory.CreateDirectory(dir.Combine("builds", "b")).FullName;
        var prefix = $"{Guid.NewGuid():N}"[..24];
        var file = $"{prefix}00000001-file";
        var tree = $"{prefix}00000002-tree";
        await File.WriteAllTextAsync(Path.Combine(phys, file), "file\n");
        Directory.CreateDirectory(Path.Combine(phys, tree, "sub"));
        await File.WriteAllTextAsync(Path.Combine(phys, tree, "sub", "data"), "tree\n");
        var settings = BuilderTestKit.Sandbox with { PrivateStoreMounts = privateStoreMounts };
        Assert.Equal(privateStoreMounts, settings.UsesStoreView);
        var log = new LogCollector();
        var spec = BuilderTestKit.Shell(
            $"ls /nix/store; cat /nix/store/{file} /nix/store/{tree}/sub/data; echo x > /nix/store/{tree}/sub/data || echo read-only",
            build, phys) with { InputPaths = [$"{HostStore}/{tree}", $"{HostStore}/{file}"] };

        var result = await new SandboxRunner(settings).RunAsync(spec, log.OnLog, CancellationToken.None);

        Assert.True(result.Succeeded, $"{result}: {log.Text}");
        Assert.StartsWith($"{file}\n{tree}\nfile\ntree\n", log.Text, StringComparison.Ordinal);
        Assert.EndsWith("read-only\n", log.Text, StringComparison.Ordinal);
        Assert.Equal("tree\n", await File.ReadAllTextAsync(Path.Combine(phys, tree, "sub", "data")));
    }

    [Fact]
    public void Create_OwnRoot_OneBindOfTheWorkersRootAndNoBindPerInput()
    {
        using var dir = new TempDirectory("sbx-args");
        var build = Directory.CreateDirectory(dir.Combine("builds", "b")).FullName;
        var spec = BuilderTestKit.Shell("true", build, dir.Combine("phys")) with { InputPaths = ["/nix/store/aaaa-one", "/nix/store/bbbb-two", "/nix/store/aaaa-one"] };
        var shared = SandboxShared.For(build, BuilderTestKit.Sandbox);
        using var area = SandboxArea.Create(spec, Ownership.WorkerUid);

        var (perInput, _) = BwrapArguments.Create(spec, shared, area, BuilderTestKit.Sandbox, ownRoot: false);
        var (ownRoot, _) = BwrapArguments.Create(spec, shared, area, BuilderTestKit.Sandbox, ownRoot: true);

        Assert.Equal(["/nix/store/aaaa-one", "/nix/store/bbbb-two"], perInput.Where(a => a.StartsWith("/nix/store/", StringComparison.Ordinal)));
        Assert.DoesNotContain(ownRoot, a => a.StartsWith("/nix/store", StringComparison.Ordinal));
        // Bubblewrap's remaining mounts: the worker's root, the test's extra path (busybox) and /proc; nothing read-only
        // to remount, no /dev of its own.
        Assert.Equal(["--dev-bind", "--bind", "--proc"], ownRoot.Where(a => a is "--bind" or "--ro-bind" or "--dev-bind" or "--dev" or "--tmpfs" or "--proc" or "--remount-ro"));
        Assert.Equal([area.View, "/"], ownRoot.SkipWhile(a => a != "--dev-bind").Skip(1).Take(2));
    }

    [Fact]
    public void Root_ExtraPathsDevicesAndNetworkEtc_AMountPointForEachOfBubblewrapsMountsAndNoneForAMissingSource()
    {
        using var dir = new TempDirectory("sbx-plan");
        var build = Directory.CreateDirectory(dir.Combine("builds", "b")).FullName;
        var shared = SandboxShared.For(build, BuilderTestKit.Sandbox);
        var settings = BuilderTestKit.Sandbox with { ExtraPaths = [new ExtraPath("/bin/busybox", BuilderTestKit.Busybox), new ExtraPath("/opt/tree", "/etc"), new ExtraPath("/opt/none", "/no/such/path")] };
        var spec = BuilderTestKit.Shell("true", build, dir.Combine("phys")) with { AllowNetwork = true, Devices = ["/dev/null", "/dev/no-such-device"] };
        using var area = SandboxArea.Create(spec, Ownership.WorkerUid);

        var plan = BwrapArguments.Root(spec, shared, area, settings);

        Assert.Equal(area.View, plan.Mountpoint);
        Assert.Equal("/nix/store", plan.Store);
        Assert.Equal([(build, "/build", false), (area.Tmp, "/tmp", false)], plan.Binds.Select(b => (b.Source, b.Target, b.ReadOnly)));
        Assert.Contains(("/proc", true), plan.MountPoints);
        Assert.Contains(("/bin/busybox", false), plan.MountPoints);
        Assert.Contains(("/opt/tree", true), plan.MountPoints);
        Assert.Contains(("/etc/passwd", false), plan.MountPoints);
        Assert.Contains(("/dev/null", false), plan.MountPoints);
        Assert.DoesNotContain(plan.MountPoints, m => m.Path is "/opt/none" or "/dev/no-such-device");
    }
}
