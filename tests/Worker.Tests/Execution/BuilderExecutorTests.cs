using BuildFarm.Contracts.Builds;
using BuildFarm.Testing;
using BuildFarm.Worker.Configuration;
using BuildFarm.Worker.Execution;
using BuildFarm.Worker.Supervision;
using BuildFarm.Worker.Tests.Farm;
using BuildFarm.Worker.Tests.Supervision;
using Microsoft.Extensions.Options;

namespace BuildFarm.Worker.Tests.Execution;

/// <summary>The executor as production runs it without a sandbox (<see cref="UnsandboxedRunner"/>).</summary>
public sealed class BuilderExecutorTests : IDisposable
{
    private readonly TempDirectory _dir = new("executor");

    private sealed class Lines : IBuildLog
    {
        public List<string> All { get; } = [];

        public void Line(string text)
        {
            lock (All)
                All.Add(text);
        }
    }

    private async Task<(BuildPlan Plan, ExecutionResult Result, Lines Log)> RunAsync(string script, TimeSpan? timeout = null, TimeSpan? maxSilent = null, CancellationToken ct = default)
    {
        var store = _dir.Combine("store");
        Directory.CreateDirectory(store);
        var request = await TestDerivations.ShellAsync(store, "x86_64-linux", script, timeout: timeout, maxSilent: maxSilent,
            env: new Dictionary<string, string> { ["greeting"] = "hello world" });
        var recipe = new AtermDerivationReader().Read(store, request.DrvPath, request.DrvText, out var error) ?? throw new InvalidOperationException(error);
        var plan = new BuildPlan(request.BuildId, 1, request.DrvPath, store, recipe, recipe.Outputs, request.Limits);
        var options = Options.Create(new WorkerOptions { BuildDir = _dir.Combine("builds"), BuildCores = 3 });
        var log = new Lines();
        var result = await new BuilderExecutor(new UnsandboxedRunner(), options).RunAsync(plan, log, ct);
        return (plan, result, log);
    }

    [Fact]
    public async Task Run_EnvDump_HasExactlyNixEnvironment()
    {
        var (plan, result, _) = await RunAsync("/usr/bin/env > $out");
        Assert.Equal(ExecutionOutcome.Succeeded, result.Outcome);
        var env = File.ReadAllLines(plan.Recipe.Outputs["out"]).Select(l => l.Split('=', 2)).ToDictionary(p => p[0], p => p[1]);
        Assert.Equal("/path-not-set", env["PATH"]);
        Assert.Equal("/homeless-shelter", env["HOME"]);
        Assert.Equal("3", env["NIX_BUILD_CORES"]);
        Assert.Equal(plan.StoreDir, env["NIX_STORE"]);
        Assert.Equal("hello world", env["greeting"]);
        Assert.Equal("2", env["NIX_LOG_FD"]);
        Assert.Equal("xterm-256color", env["TERM"]);
        Assert.Equal(plan.Recipe.Outputs["out"], env["out"]);
        var top = env["NIX_BUILD_TOP"];
        Assert.StartsWith(_dir.Combine("builds"), top, StringComparison.Ordinal);
        foreach (var k in new[] { "TMPDIR", "TEMPDIR", "TMP", "TEMP", "PWD" })
            Assert.Equal(top, env[k]);
        Assert.False(env.ContainsKey("USER") || env.ContainsKey("DOTNET_ROOT") || env.ContainsKey("LANG"), "nothing inherited from the worker");
        Assert.False(Directory.Exists(top), "the build directory is removed afterwards");
    }

    [Fact]
    public async Task Run_NonZeroExit_FailedWithCodeAndLog()
    {
        var (_, result, log) = await RunAsync("echo going wrong; echo to stderr >&2; exit 3");
        Assert.Equal(ExecutionOutcome.Failed, result.Outcome);
        Assert.Equal(3, result.ExitCode);
        Assert.Contains("going wrong", log.All);
        Assert.Contains("to stderr", log.All);
    }

    [Fact]
    public async Task Run_Timeout_TimedOut()
    {
        var (_, result, _) = await RunAsync("/bin/sleep 30", timeout: TimeSpan.FromSeconds(1));
        Assert.Equal(ExecutionOutcome.TimedOut, result.Outcome);
        Assert.Contains("timed out", result.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_SilentTooLong_TimedOutNamingMaxSilentTime()
    {
        var (_, result, _) = await RunAsync("echo start; /bin/sleep 30", maxSilent: TimeSpan.FromSeconds(1));
        Assert.Equal(ExecutionOutcome.TimedOut, result.Outcome);
        Assert.Contains("max-silent-time", result.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_TimeoutWithBackgroundChild_KillsTheChildToo()
    {
        var token = $"bf-tree-{Guid.NewGuid():N}";
        var (_, result, _) = await RunAsync($"/bin/sh -c '/bin/sleep 3600; : {token}' & echo started; wait", timeout: TimeSpan.FromSeconds(2));

        Assert.Equal(ExecutionOutcome.TimedOut, result.Outcome);
        Assert.Empty(await BuilderTestKit.LiveProcessesAfterAsync(token));
    }

    [Fact]
    public async Task Run_BuilderExitsLeavingBackgroundChild_ChildKilled()
    {
        var token = $"bf-tree-{Guid.NewGuid():N}";
        var (_, result, _) = await RunAsync($"/bin/sh -c '/bin/sleep 3600; : {token}' >/dev/null 2>&1 & echo out > $out");

        Assert.Equal(ExecutionOutcome.Succeeded, result.Outcome);
        Assert.Empty(await BuilderTestKit.LiveProcessesAfterAsync(token));
    }

    public void Dispose() => _dir.Dispose();
}
