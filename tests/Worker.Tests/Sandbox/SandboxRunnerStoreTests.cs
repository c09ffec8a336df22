using BuildFarm.Testing;
using BuildFarm.Worker.Sandbox;
using BuildFarm.Worker.Supervision;
using BuildFarm.Worker.Tests.Supervision;

namespace BuildFarm.Worker.Tests.Sandbox;

public sealed class SandboxRunnerStoreTests
{
    private const string HostStore = "/nix/store";

    [Fact]
    public async Task RunAsync_InputAndOutput_OnlyTheInputVisibleAndTheOutputMovedIntoThePhysicalStoreOwnedByTheWorker()
    {
        using var dir = new TempDirectory("sbx-store");
        var phys = Directory.CreateDirectory(dir.Combine("phys")).FullName;
        var build = Directory.CreateDirectory(dir.Combine("builds", "b")).FullName;
        var name = $"{Guid.NewGuid():N}"[..32] + "-input";
        var other = $"{Guid.NewGuid():N}"[..32] + "-not-an-input";
        await File.WriteAllTextAsync(Path.Combine(phys, name), "from the physical store\n");
        await File.WriteAllTextAsync(Path.Combine(phys, other), "secret\n");
        var output = $"{HostStore}/{Guid.NewGuid():N}"[..(HostStore.Length + 33)] + "-out";
        var hostMounts = BuilderTestKit.HostMounts();
        var log = new LogCollector();
        var spec = BuilderTestKit.Shell(
            $"cat /nix/store/{name}; ls /nix/store; echo built > {output}; pwd; cat /nix/store/{other} || echo hidden; echo x > /nix/store/{name} || echo read-only",
            build, phys) with { InputPaths = [$"{HostStore}/{name}"], OutputPaths = [output] };

        var result = await new SandboxRunner(BuilderTestKit.Sandbox).RunAsync(spec, log.OnLog, CancellationToken.None);

        Assert.True(result.Succeeded, $"{result}: {log.Text}");
        Assert.StartsWith($"from the physical store\n{name}\n/build\n", log.Text, StringComparison.Ordinal);
        Assert.Contains("hidden", log.Text, StringComparison.Ordinal);
        Assert.Contains("read-only", log.Text, StringComparison.Ordinal);
        var claimed = Path.Combine(phys, Path.GetFileName(output));
        Assert.Equal("built\n", await File.ReadAllTextAsync(claimed));
        Assert.Equal(0, BuilderTestKit.Owner(claimed));
        Assert.Equal("from the physical store\n", await File.ReadAllTextAsync(Path.Combine(phys, name)));
        Assert.False(Directory.Exists(build + ".sandbox"), "the sandbox's private root was left behind");
        // Other test assemblies build with the real nix-daemon meanwhile, so the host store is checked for this
        // test's own names rather than compared whole.
        Assert.All(new[] { name, other, Path.GetFileName(output) }, n => Assert.False(Path.Exists(Path.Combine(HostStore, n)), $"{n} reached the host's store"));
        Assert.Equal(hostMounts, BuilderTestKit.HostMounts());
    }

    [Fact]
    public async Task RunAsync_BuilderFails_NoOutputReachesTheStore()
    {
        using var dir = new TempDirectory("sbx-fail");
        var phys = Directory.CreateDirectory(dir.Combine("phys")).FullName;
        var build = Directory.CreateDirectory(dir.Combine("builds", "b")).FullName;
        var output = $"{HostStore}/{new string('a', 32)}-out";
        var log = new LogCollector();

        var result = await new SandboxRunner(BuilderTestKit.Sandbox).RunAsync(
            BuilderTestKit.Shell($"echo half > {output}; exit 3", build, phys) with { OutputPaths = [output] }, log.OnLog, CancellationToken.None);

        Assert.Equal(3, result.ExitCode);
        Assert.Empty(Directory.GetFileSystemEntries(phys));
        Assert.False(Directory.Exists(build + ".sandbox"));
    }

    [Fact]
    public async Task RunAsync_TwoConcurrentSandboxesSameLogicalDir_EachSeesItsOwnStore()
    {
        using var dir = new TempDirectory("sbx-two");
        var name = $"{Guid.NewGuid():N}"[..32] + "-input";
        var hostMounts = BuilderTestKit.HostMounts();
        var runs = new List<(Task<BuilderResult> Run, LogCollector Log, string Build)>();
        foreach (var id in new[] { "one", "two" })
        {
            var phys = Directory.CreateDirectory(dir.Combine(id, "phys")).FullName;
            var build = Directory.CreateDirectory(dir.Combine(id, "builds", "b")).FullName;
            await File.WriteAllTextAsync(Path.Combine(phys, name), id);
            // Each builder reports what it sees, then waits until the test has looked at the host while both run.
            var script = $"echo \"sees $(cat /nix/store/{name}) as $(id -u)\"; while [ ! -e /build/go ]; do /bin/busybox sleep 0.05; done; echo \"still $(cat /nix/store/{name})\"";
            var log = new LogCollector();
            var spec = BuilderTestKit.Shell(script, build, phys) with { InputPaths = [$"{HostStore}/{name}"] };
            runs.Add((new SandboxRunner(BuilderTestKit.Sandbox).RunAsync(spec, log.OnLog, CancellationToken.None), log, build));
        }

        await runs[0].Log.WaitForAsync("sees one as 1000", runs[0].Run);
        await runs[1].Log.WaitForAsync("sees two as 1000", runs[1].Run);
        Assert.False(File.Exists(Path.Combine(HostStore, name)), "a sandbox's store is visible on the host");
        Assert.Equal(hostMounts, BuilderTestKit.HostMounts());
        // Two running builds never share a host uid.
        Assert.NotEqual(BuilderTestKit.Owner(runs[0].Build), BuilderTestKit.Owner(runs[1].Build));
        foreach (var (_, _, build) in runs)
            await File.WriteAllTextAsync(Path.Combine(build, "go"), "");
        var results = await Task.WhenAll(runs.Select(r => r.Run));

        Assert.All(results, r => Assert.True(r.Succeeded, r.ToString()));
        Assert.Equal("sees one as 1000\nstill one\n", runs[0].Log.Text);
        Assert.Equal("sees two as 1000\nstill two\n", runs[1].Log.Text);
    }

    [Fact]
    public async Task RunAsync_InputMissingFromThePhysicalStore_SetupFailedNamingIt()
    {
        using var dir = new TempDirectory("sbx-missing");
        var phys = Directory.CreateDirectory(dir.Combine("phys")).FullName;
        var build = Directory.CreateDirectory(dir.Combine("builds", "b")).FullName;
        var missing = $"{HostStore}/{new string('b', 32)}-missing";
        var log = new LogCollector();

        var result = await new SandboxRunner(BuilderTestKit.Sandbox).RunAsync(
            BuilderTestKit.Shell("echo ran", build, phys) with { InputPaths = [missing] }, log.OnLog, CancellationToken.None);

        Assert.Equal(BuilderOutcome.SetupFailed, result.Outcome);
        Assert.Null(result.ExitCode);
        Assert.Contains($"input '{Path.GetFileName(missing)}' is not in the physical store {phys}", result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("ran", log.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_BuilderOutsideTheClosure_BuildFailureNotSetupFailure()
    {
        // Nix's sandbox fails such a derivation as the builder's own failure ("executing '…': No such file or
        // directory"); retrying it elsewhere cannot help.
        using var dir = new TempDirectory("sbx-no-builder");
        var phys = Directory.CreateDirectory(dir.Combine("phys")).FullName;
        var build = Directory.CreateDirectory(dir.Combine("builds", "b")).FullName;
        var log = new LogCollector();
        var spec = BuilderTestKit.Shell("echo ran", build, phys) with { Builder = $"{HostStore}/{new string('c', 32)}-absent/bin/sh" };

        var result = await new SandboxRunner(BuilderTestKit.Sandbox).RunAsync(spec, log.OnLog, CancellationToken.None);

        Assert.Equal(BuilderOutcome.Exited, result.Outcome);
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("execvp", log.Text, StringComparison.Ordinal);
        Assert.Contains("-absent/bin/sh: No such file or directory", log.Text, StringComparison.Ordinal);
    }
}
