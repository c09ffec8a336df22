using BuildFarm.Testing;
using BuildFarm.Worker.Sandbox;
using BuildFarm.Worker.Supervision;

namespace BuildFarm.Worker.Tests.Supervision;

/// <summary>Timeout, max-silent-time and cancellation kill the whole tree, for both runners.</summary>
public sealed class BuildLimitsTests
{
    public static TheoryData<string> Runners => new() { "sandboxed", "unsandboxed" };

    private static IBuilderRunner Runner(string kind) => kind == "sandboxed" ? new SandboxRunner(BuilderTestKit.Sandbox) : new UnsandboxedRunner();

    /// <summary>A builder that leaves a background child (its command line carries the token) and waits for it.</summary>
    private static string TreeScript(string token) =>
        $"/bin/busybox sh -c '/bin/busybox sleep 3600; : {token}' & echo started; wait";

    private static BuilderSpec Spec(string kind, TempDirectory dir, string script, TimeSpan timeout, TimeSpan maxSilent) =>
        BuilderTestKit.Shell(script, dir.Path, kind == "sandboxed" ? dir.Path : "/nix/store", timeout: timeout, maxSilent: maxSilent);

    [Theory]
    [MemberData(nameof(Runners))]
    public async Task RunAsync_Timeout_KillsBuilderAndBackgroundChild(string kind)
    {
        using var dir = new TempDirectory("sbx-timeout");
        var token = $"bf-tree-{Guid.NewGuid():N}";
        var log = new LogCollector();

        var run = Runner(kind).RunAsync(Spec(kind, dir, TreeScript(token), TimeSpan.FromSeconds(3), TimeSpan.Zero), log.OnLog, CancellationToken.None);
        await log.WaitForAsync("started", run);
        Assert.NotEmpty(BuilderTestKit.LiveProcessesWith(token));
        var result = await run;

        Assert.Equal(BuilderOutcome.TimedOut, result.Outcome);
        Assert.Contains("timed out after 3 s", result.Error, StringComparison.Ordinal);
        Assert.Empty(await BuilderTestKit.LiveProcessesAfterAsync(token));
    }

    [Theory]
    [MemberData(nameof(Runners))]
    public async Task RunAsync_Cancelled_KillsBuilderAndBackgroundChild(string kind)
    {
        using var dir = new TempDirectory("sbx-cancel");
        var token = $"bf-tree-{Guid.NewGuid():N}";
        var log = new LogCollector();
        using var cts = new CancellationTokenSource();

        var run = Runner(kind).RunAsync(Spec(kind, dir, TreeScript(token), TimeSpan.FromMinutes(5), TimeSpan.Zero), log.OnLog, cts.Token);
        await log.WaitForAsync("started", run);
        Assert.NotEmpty(BuilderTestKit.LiveProcessesWith(token));
        await cts.CancelAsync();
        var result = await run;

        Assert.Equal(BuilderOutcome.Cancelled, result.Outcome);
        Assert.Empty(await BuilderTestKit.LiveProcessesAfterAsync(token));
    }

    [Theory]
    [MemberData(nameof(Runners))]
    public async Task RunAsync_NoOutputForMaxSilentTime_KilledAsSilent(string kind)
    {
        using var dir = new TempDirectory("sbx-silent");
        var token = $"bf-tree-{Guid.NewGuid():N}";
        var log = new LogCollector();

        var result = await Runner(kind).RunAsync(Spec(kind, dir, TreeScript(token), TimeSpan.FromMinutes(5), TimeSpan.FromSeconds(1)), log.OnLog, CancellationToken.None);

        Assert.Equal(BuilderOutcome.Silent, result.Outcome);
        Assert.Equal("started\n", log.Text);
        Assert.Empty(await BuilderTestKit.LiveProcessesAfterAsync(token));
    }

    [Fact]
    public async Task RunAsync_RegularOutputLongerThanMaxSilentTime_RunsToTheEnd()
    {
        using var dir = new TempDirectory("sbx-chatty");
        var log = new LogCollector();
        // 3 s of output every 0.2 s under a 1.5 s silence limit: each output restarts the silence clock.
        var script = "for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15; do echo $i; /bin/busybox sleep 0.2; done";

        var result = await new SandboxRunner(BuilderTestKit.Sandbox).RunAsync(Spec("sandboxed", dir, script, TimeSpan.FromMinutes(5), TimeSpan.FromSeconds(1.5)), log.OnLog, CancellationToken.None);

        Assert.True(result.Succeeded, $"{result}: {log.Text}");
        Assert.EndsWith("\n15\n", log.Text, StringComparison.Ordinal);
    }
}
