using BuildFarm.Contracts.Builds;
using BuildFarm.Testing;
using BuildFarm.Worker.Configuration;
using BuildFarm.Worker.Execution;
using BuildFarm.Worker.Lifecycle;
using Microsoft.Extensions.Options;

namespace BuildFarm.Worker.Tests.Execution;

public sealed class ExecutorSelectionTests : IDisposable
{
    private readonly TempDirectory _dir = new("executor-selection");
    private readonly IsolationChoice _isolation = new();
    private IOptions<WorkerOptions>? _options;

    [Fact]
    public async Task Start_SandboxWorks_BuildsRunSandboxed()
    {
        var (selection, state) = Create(_dir.Path, allowUnsandboxed: false);
        await selection.StartAsync(CancellationToken.None);
        Assert.True(selection.Sandboxed, state.Note);
        Assert.False(state.Paused);
        Assert.Equal(BuildIsolation.Sandboxed, _isolation.Current?.Isolation);
        Assert.Contains("buildfarm-trusted", _isolation.Capabilities(_options!.Value).SupportedFeatures);
        Assert.Empty(_isolation.Capabilities(_options.Value).MandatoryFeatures);
    }

    [Fact]
    public async Task Start_NoSandboxAndNotAllowed_PausedAndBuildsFailAsInfrastructureWithReason()
    {
        var missing = _dir.Combine("no-such-bwrap");
        var (selection, state) = Create(_dir.Path, allowUnsandboxed: false, bwrap: missing);
        await selection.StartAsync(CancellationToken.None);

        Assert.False(selection.Sandboxed);
        Assert.True(state.Paused);
        Assert.Equal(BuildIsolation.None, _isolation.Current?.Isolation);
        Assert.Contains(missing, _isolation.Current!.Reason, StringComparison.Ordinal);
        Assert.Contains(missing, state.Note, StringComparison.Ordinal);
        var result = await selection.RunAsync(Plan(_dir.Path), new NullLog(), CancellationToken.None);
        Assert.Equal(ExecutionOutcome.Infrastructure, result.Outcome);
        Assert.Contains("AllowUnsandboxed is false", result.Reason, StringComparison.Ordinal);
        Assert.Contains(missing, result.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Start_NoSandboxButAllowed_RunsUnsandboxed()
    {
        var (selection, state) = Create(_dir.Path, allowUnsandboxed: true, bwrap: _dir.Combine("no-such-bwrap"));
        await selection.StartAsync(CancellationToken.None);

        Assert.False(selection.Sandboxed);
        Assert.False(state.Paused);
        Assert.Equal(BuildIsolation.Unsandboxed, _isolation.Current?.Isolation);
        Assert.Contains("no-such-bwrap", _isolation.Current!.Reason, StringComparison.Ordinal);
        Assert.Equal(["buildfarm-trusted"], _isolation.Capabilities(_options!.Value).MandatoryFeatures);
        var result = await selection.RunAsync(Plan(_dir.Path), new NullLog(), CancellationToken.None);
        Assert.Equal(ExecutionOutcome.Succeeded, result.Outcome);
    }

    [Fact]
    public async Task Start_OffersI686_WarnsOnlyWhereTheKernelCannotRunI386()
    {
        var kernelRunsI386 = await I386SupportTests.WitnessRunsAsync(_dir);
        var events = new List<Serilog.Events.LogEvent>();
        var logger = new Serilog.LoggerConfiguration().WriteTo.Sink(new Collect(events)).CreateLogger();
        var (selection, state) = Create(_dir.Path, allowUnsandboxed: false, systems: ["x86_64-linux", "i686-linux"], logger: logger);

        await selection.StartAsync(CancellationToken.None);

        Assert.True(selection.Sandboxed, state.Note);
        var problems = events.Where(e => e.Level == Serilog.Events.LogEventLevel.Warning && e.Properties.ContainsKey("I386Problem"))
            .Select(e => ((Serilog.Events.ScalarValue)e.Properties["I386Problem"]).Value as string).ToList();
        if (kernelRunsI386)
            Assert.Empty(problems);
        else
            Assert.Equal(["this kernel cannot run 32-bit x86 programs: it has no IA32 emulation (an i386 system call faulted with SIGSEGV)"], problems);
    }

    public void Dispose() => _dir.Dispose();

    private (ExecutorSelection, WorkerState) Create(string storeDir, bool allowUnsandboxed, string bwrap = "/usr/bin/bwrap", List<string>? systems = null, Serilog.ILogger? logger = null)
    {
        var options = _options = Options.Create(new WorkerOptions
        {
            Name = "sel",
            Systems = systems ?? ["x86_64-linux"],
            Store = new StoreSection { StoreDir = storeDir },
            BuildDir = _dir.Combine("builds"),
            AllowUnsandboxed = allowUnsandboxed,
            Sandbox = new SandboxSection { Bwrap = bwrap },
        });
        var state = new WorkerState();
        return (new ExecutorSelection(options, state, _isolation, TimeProvider.System, logger ?? Serilog.Core.Logger.None), state);
    }

    private static BuildPlan Plan(string storeDir)
    {
        var outPath = storeDir + "/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-sel";
        var recipe = new BuildRecipe(
            new Dictionary<string, string> { ["out"] = outPath }, [], [], "x86_64-linux", "/bin/sh", ["-c", "echo hi"], new Dictionary<string, string>());
        return new BuildPlan(Guid.NewGuid(), 1, storeDir + "/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-sel.drv", storeDir, recipe,
            new Dictionary<string, string> { ["out"] = outPath }, new BuildLimits(TimeSpan.FromMinutes(1), TimeSpan.Zero));
    }

    private sealed class Collect(List<Serilog.Events.LogEvent> into) : Serilog.Core.ILogEventSink
    {
        public void Emit(Serilog.Events.LogEvent logEvent) => into.Add(logEvent);
    }

    private sealed class NullLog : IBuildLog
    {
        public void Line(string text)
        {
        }
    }
}
