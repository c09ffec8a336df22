using BuildFarm.Testing;
using BuildFarm.Worker.Supervision;

namespace BuildFarm.Worker.Tests.Supervision;

public sealed class UnsandboxedRunnerTests
{
    [Fact]
    public async Task RunAsync_Environment_IsExactlyTheSpecs()
    {
        using var dir = new TempDirectory("unsbx-env");
        var env = new Dictionary<string, string> { ["PATH"] = "/path-not-set", ["NIX_BUILD_TOP"] = dir.Path, ["odd name"] = "a\nb" };
        var spec = new BuilderSpec(BuilderTestKit.Busybox, ["env", "-0"], env,
            "/nix/store", "/nix/store", dir.Path, false, TimeSpan.FromSeconds(60), TimeSpan.Zero);
        var log = new LogCollector();

        var result = await new UnsandboxedRunner().RunAsync(spec, log.OnLog, CancellationToken.None);

        Assert.True(result.Succeeded, $"{result}: {log.Text}");
        var seen = log.Text.Split('\0', StringSplitOptions.RemoveEmptyEntries).Select(e => e.Split('=', 2)).ToDictionary(p => p[0], p => p[1]);
        Assert.Equal(env.OrderBy(e => e.Key, StringComparer.Ordinal), seen.OrderBy(e => e.Key, StringComparer.Ordinal));
    }

    [Fact]
    public async Task RunAsync_FailingBuilder_ExitCodeAndMergedLogFromBuildDir()
    {
        using var dir = new TempDirectory("unsbx-exit");
        var log = new LogCollector();

        var result = await new UnsandboxedRunner().RunAsync(BuilderTestKit.Shell("pwd; echo err >&2; exit 3", dir.Path, "/nix/store"), log.OnLog, CancellationToken.None);

        Assert.Equal(BuilderOutcome.Exited, result.Outcome);
        Assert.Equal(3, result.ExitCode);
        // stdout and stderr are two pipes: each line arrives whole, their order between the pipes is not kept.
        Assert.Equal(["", dir.Path, "err"], log.Text.Split('\n').Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task RunAsync_PhysicalStoreElsewhere_RunsOnTheHostFilesystem()
    {
        using var dir = new TempDirectory("unsbx-store");
        var phys = Directory.CreateDirectory(dir.Combine("phys")).FullName;
        var log = new LogCollector();

        var result = await new UnsandboxedRunner().RunAsync(BuilderTestKit.Shell("echo out > $BUILD/phys/x; echo ran", dir.Path, phys), log.OnLog, CancellationToken.None);

        Assert.True(result.Succeeded, $"{result}: {log.Text}");
        Assert.Equal("ran\n", log.Text);
        Assert.Equal("out\n", await File.ReadAllTextAsync(Path.Combine(phys, "x")));
    }

    [Fact]
    public async Task RunAsync_LinesOfBothPipes_ArriveWholeAndCounted()
    {
        using var dir = new TempDirectory("unsbx-lines");
        var log = new LogCollector();
        // Many lines on both pipes at once: a chunk that ended mid-line would splice a line of one pipe into the other's.
        var script = "i=0; while [ $i -lt 2000 ]; do echo \"out-$i-out\"; echo \"err-$i-err\" >&2; i=$((i+1)); done";

        var result = await new UnsandboxedRunner().RunAsync(BuilderTestKit.Shell(script, dir.Path, "/nix/store"), log.OnLog, CancellationToken.None);

        Assert.True(result.Succeeded, $"{result}");
        var lines = log.Text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(4000, lines.Length);
        Assert.All(lines, l => Assert.Matches("^(out-[0-9]+-out|err-[0-9]+-err)$", l));
        Assert.Equal(System.Text.Encoding.UTF8.GetByteCount(log.Text), result.LogBytes);
    }
}
