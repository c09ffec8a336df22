using BuildFarm.Testing;
using BuildFarm.Worker.Sandbox;

namespace BuildFarm.Worker.Tests.Sandbox;

public sealed class UnsandboxedRunnerTests
{
    [Fact]
    public async Task RunAsync_Environment_IsExactlyTheSpecs()
    {
        using var dir = new TempDirectory("unsbx-env");
        var env = new Dictionary<string, string> { ["PATH"] = "/path-not-set", ["NIX_BUILD_TOP"] = dir.Path, ["odd name"] = "a\nb" };
        var spec = new SandboxSpec(SandboxTestKit.Busybox, ["env", "-0"], env,
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

        var result = await new UnsandboxedRunner().RunAsync(SandboxTestKit.Shell("pwd; echo err >&2; exit 3", dir.Path, "/nix/store"), log.OnLog, CancellationToken.None);

        Assert.Equal(SandboxOutcome.Exited, result.Outcome);
        Assert.Equal(3, result.ExitCode);
        Assert.Equal($"{dir.Path}\nerr\n", log.Text);
    }

    [Fact]
    public async Task RunAsync_PhysicalStoreElsewhere_SetupFailed()
    {
        using var dir = new TempDirectory("unsbx-store");
        var log = new LogCollector();

        var result = await new UnsandboxedRunner().RunAsync(SandboxTestKit.Shell("echo ran", dir.Path, dir.Path), log.OnLog, CancellationToken.None);

        Assert.Equal(SandboxOutcome.SetupFailed, result.Outcome);
        Assert.Contains($"cannot show the store {dir.Path} at /nix/store", result.Error, StringComparison.Ordinal);
        Assert.Equal("", log.Text);
    }
}
