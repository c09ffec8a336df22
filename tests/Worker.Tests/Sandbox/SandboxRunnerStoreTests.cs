using BuildFarm.Testing;
using BuildFarm.Worker.Sandbox;
using BuildFarm.Worker.Supervision;
using BuildFarm.Worker.Tests.Supervision;

namespace BuildFarm.Worker.Tests.Sandbox;

public sealed class SandboxRunnerStoreTests
{
    private const string HostStore = "/nix/store";

    [Fact]
    public async Task RunAsync_PhysicalStore_VisibleAtLogicalPathAndHostStoreUnchanged()
    {
        using var dir = new TempDirectory("sbx-store");
        var phys = Directory.CreateDirectory(dir.Combine("phys")).FullName;
        var build = Directory.CreateDirectory(dir.Combine("build")).FullName;
        var name = $"bf-sandbox-{Guid.NewGuid():N}";
        await File.WriteAllTextAsync(Path.Combine(phys, name), "from the physical store\n");
        var hostListing = Directory.GetFileSystemEntries(HostStore).Order(StringComparer.Ordinal).ToArray();
        var hostMounts = BuilderTestKit.HostMounts();
        var log = new LogCollector();

        var result = await new SandboxRunner().RunAsync(BuilderTestKit.Shell(
            $"cat /nix/store/{name}; echo built > /nix/store/{name}-out; pwd", build, phys), log.OnLog, CancellationToken.None);

        Assert.True(result.Succeeded, $"{result}: {log.Text}");
        Assert.Equal($"from the physical store\n{build}\n", log.Text);
        Assert.Equal("built\n", await File.ReadAllTextAsync(Path.Combine(phys, name + "-out")));
        Assert.False(File.Exists(Path.Combine(HostStore, name + "-out")), "the output leaked into the host's /nix/store");
        Assert.Equal(hostListing, Directory.GetFileSystemEntries(HostStore).Order(StringComparer.Ordinal).ToArray());
        Assert.Equal(hostMounts, BuilderTestKit.HostMounts());
    }

    [Fact]
    public async Task RunAsync_TwoConcurrentSandboxesSameLogicalDir_EachSeesItsOwnStore()
    {
        using var dir = new TempDirectory("sbx-two");
        var name = $"bf-sandbox-{Guid.NewGuid():N}";
        var hostMounts = BuilderTestKit.HostMounts();
        var runs = new List<(Task<BuilderResult> Run, LogCollector Log, string Build)>();
        foreach (var id in new[] { "one", "two" })
        {
            var phys = Directory.CreateDirectory(dir.Combine(id, "phys")).FullName;
            var build = Directory.CreateDirectory(dir.Combine(id, "build")).FullName;
            await File.WriteAllTextAsync(Path.Combine(phys, name), id);
            // Each builder reports what it sees, then waits until the test has looked at the host while both run.
            var script = $"echo \"sees $(cat /nix/store/{name})\"; while [ ! -e \"$BUILD/go\" ]; do /bin/busybox sleep 0.05; done; echo \"still $(cat /nix/store/{name})\"";
            var log = new LogCollector();
            runs.Add((new SandboxRunner().RunAsync(BuilderTestKit.Shell(script, build, phys), log.OnLog, CancellationToken.None), log, build));
        }

        await runs[0].Log.WaitForAsync("sees one", runs[0].Run);
        await runs[1].Log.WaitForAsync("sees two", runs[1].Run);
        Assert.False(File.Exists(Path.Combine(HostStore, name)), "a sandbox's store is visible on the host");
        Assert.Equal(hostMounts, BuilderTestKit.HostMounts());
        foreach (var (_, _, build) in runs)
            await File.WriteAllTextAsync(Path.Combine(build, "go"), "");
        var results = await Task.WhenAll(runs.Select(r => r.Run));

        Assert.All(results, r => Assert.True(r.Succeeded, r.ToString()));
        Assert.Equal("sees one\nstill one\n", runs[0].Log.Text);
        Assert.Equal("sees two\nstill two\n", runs[1].Log.Text);
    }

    [Fact]
    public async Task RunAsync_LogicalDirMissingOnHost_SetupFailedNamingIt()
    {
        using var dir = new TempDirectory("sbx-missing");
        var phys = Directory.CreateDirectory(dir.Combine("phys")).FullName;
        var build = Directory.CreateDirectory(dir.Combine("build")).FullName;
        var missing = dir.Combine("no", "such", "store");
        var log = new LogCollector();

        var result = await new SandboxRunner().RunAsync(BuilderTestKit.Shell("echo ran", build, phys, missing), log.OnLog, CancellationToken.None);

        Assert.Equal(BuilderOutcome.SetupFailed, result.Outcome);
        Assert.Null(result.ExitCode);
        Assert.Contains($"logical store directory {missing} does not exist", result.Error, StringComparison.Ordinal);
        Assert.Equal("", log.Text);
        Assert.False(Directory.Exists(missing));
    }
}
