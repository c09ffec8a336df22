using BuildFarm.Testing;
using BuildFarm.Worker.Sandbox;
using BuildFarm.Worker.Tests.Supervision;

namespace BuildFarm.Worker.Tests.Sandbox;

public sealed class SandboxSharedTests
{
    private const UnixFileMode WritableByOthers = UnixFileMode.GroupWrite | UnixFileMode.OtherWrite;

    [Fact]
    public async Task RunAsync_TwoBuilds_ShareRootsFilesThatNoBuilderCanChange()
    {
        using var dir = new TempDirectory("sbx-shared");
        var phys = Directory.CreateDirectory(dir.Combine("phys")).FullName;
        var builds = Directory.CreateDirectory(dir.Combine("builds")).FullName;
        var shared = Path.Combine(builds, SandboxShared.DirectoryName);
        // The builder tries to change what the next build gets: the /etc every build shares.
        const string Script = "ls /etc; cat /etc/passwd; echo x > /etc/passwd || echo etc-read-only; echo x > /etc/new || echo etc-closed";
        var logs = new List<string>();
        DateTime? launcherWritten = null;
        foreach (var b in new[] { "a", "b" })
        {
            var log = new LogCollector();
            var result = await new SandboxRunner(BuilderTestKit.Sandbox).RunAsync(
                BuilderTestKit.Shell(Script, Directory.CreateDirectory(Path.Combine(builds, b)).FullName, phys), log.OnLog, CancellationToken.None);
            Assert.True(result.Succeeded, $"{result}: {log.Text}");
            logs.Add(log.Text);
            var launcher = Assert.Single(Directory.GetFiles(shared, "launcher-*"));
            launcherWritten ??= File.GetLastWriteTimeUtc(launcher);
            Assert.Equal(launcherWritten, File.GetLastWriteTimeUtc(launcher));
        }

        Assert.All(logs, l => Assert.StartsWith("group\nhosts\npasswd\nroot:x:0:0:Nix build user:/build:/noshell\nnixbld:x:1000:100:", l, StringComparison.Ordinal));
        Assert.All(logs, l => Assert.Contains("Read-only file system\netc-read-only\n", l, StringComparison.Ordinal));
        Assert.All(logs, l => Assert.EndsWith("Read-only file system\netc-closed\n", l, StringComparison.Ordinal));
        Assert.Equal(0, BuilderTestKit.Owner(shared));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute,
            File.GetUnixFileMode(shared));
        Assert.All(Directory.GetFileSystemEntries(shared, "*", SearchOption.AllDirectories), e =>
        {
            Assert.Equal(0, BuilderTestKit.Owner(e));
            Assert.True((File.GetUnixFileMode(e) & WritableByOthers) == 0, $"{e} is writable by others: {File.GetUnixFileMode(e)}");
            Assert.DoesNotContain(".tmp-", e, StringComparison.Ordinal);
        });
        Assert.Equal("root:x:0:\nnixbld:!:100:\nnogroup:x:65534:\n", await File.ReadAllTextAsync(Path.Combine(Assert.Single(Directory.GetDirectories(shared, "etc-*")), "group")));
    }

    [Fact]
    public async Task RunAsync_SharedDirectoryOpenAndEmptiedBetweenBuilds_ClosedAgainAndRewrittenBeforeTheNextBuild()
    {
        using var dir = new TempDirectory("sbx-shared-gone");
        var phys = Directory.CreateDirectory(dir.Combine("phys")).FullName;
        var builds = Directory.CreateDirectory(dir.Combine("builds")).FullName;
        var shared = Path.Combine(builds, SandboxShared.DirectoryName);
        // Found open to everyone at the first use: made root's and closed before anything in it is used.
        Directory.CreateDirectory(shared);
        File.SetUnixFileMode(shared, (UnixFileMode)0x1FF);
        await File.WriteAllTextAsync(Path.Combine(shared, "planted"), "x");

        foreach (var b in new[] { "a", "b" })
        {
            var log = new LogCollector();
            var result = await new SandboxRunner(BuilderTestKit.Sandbox).RunAsync(
                BuilderTestKit.Shell("cat /etc/hosts", Directory.CreateDirectory(Path.Combine(builds, b)).FullName, phys), log.OnLog, CancellationToken.None);

            Assert.True(result.Succeeded, $"{result}: {log.Text}");
            Assert.Equal("127.0.0.1 localhost\n::1 localhost\n", log.Text);
            Assert.True((File.GetUnixFileMode(shared) & WritableByOthers) == 0);
            // An operator cleans the directory under the running worker: the next build writes what it needs again.
            Directory.Delete(shared, recursive: true);
        }
    }
}
