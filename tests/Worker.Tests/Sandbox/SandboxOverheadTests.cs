using System.Diagnostics;
using BuildFarm.Testing;
using BuildFarm.Worker.Sandbox;
using BuildFarm.Worker.Supervision;
using BuildFarm.Worker.Tests.Supervision;
using Xunit.Abstractions;

namespace BuildFarm.Worker.Tests.Sandbox;

/// <summary>
/// Fifty trivial builds per runner back to back: all succeed and no mount leaks to the host. The per-build times are
/// printed for the record (never asserted: timings depend on the machine's load).
/// </summary>
public sealed class SandboxOverheadTests(ITestOutputHelper output)
{
    private const int Builds = 50;

    [Fact]
    public async Task RunAsync_FiftyTrivialBuildsEach_AllSucceedAndNoMountLeaks()
    {
        using var dir = new TempDirectory("sbx-overhead");
        var hostMounts = BuilderTestKit.HostMounts();
        var spec = new BuilderSpec(BuilderTestKit.Busybox, ["true"], new Dictionary<string, string>(),
            "/nix/store", dir.Path, dir.Path, false, TimeSpan.FromSeconds(60), TimeSpan.Zero);

        var sandboxed = await TimeBuildsAsync(new SandboxRunner(BuilderTestKit.Sandbox), spec);
        var unsandboxed = await TimeBuildsAsync(new UnsandboxedRunner(), spec with { PhysicalStoreDir = "/nix/store" });

        Assert.Equal(hostMounts, BuilderTestKit.HostMounts());
        output.WriteLine($"per build: sandboxed {sandboxed.TotalMilliseconds / Builds:0.0} ms, unsandboxed {unsandboxed.TotalMilliseconds / Builds:0.0} ms, overhead {(sandboxed - unsandboxed).TotalMilliseconds / Builds:0.0} ms");
    }

    private static async Task<TimeSpan> TimeBuildsAsync(IBuilderRunner runner, BuilderSpec spec)
    {
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < Builds; i++)
        {
            var result = await runner.RunAsync(spec, (_, _) => ValueTask.CompletedTask, CancellationToken.None);
            Assert.True(result.Succeeded, $"build {i} with {runner.GetType().Name}: {result}");
        }

        return clock.Elapsed;
    }
}
