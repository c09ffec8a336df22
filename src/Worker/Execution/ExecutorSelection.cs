using BuildFarm.Contracts.Builds;
using BuildFarm.Contracts.Workers;
using BuildFarm.Store.Paths;
using BuildFarm.Worker.Configuration;
using BuildFarm.Worker.Lifecycle;
using BuildFarm.Worker.Sandbox;
using BuildFarm.Worker.Supervision;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Serilog;

namespace BuildFarm.Worker.Execution;

/// <summary>
/// Chooses how builders run, once at start-up (a hosted service started before the build consumers): the sandbox
/// when a real probe build works here; otherwise the <see cref="UnsandboxedRunner"/> only if
/// <c>AllowUnsandboxed</c> is true (with a warning); otherwise none: the worker starts paused with the reason as its
/// note (so it takes nothing from the queues), and any build that reaches it anyway (after a ResumeWorker) fails as
/// Infrastructure with the probe's reason, so the dispatcher retries it on another worker. The choice goes to
/// <see cref="IsolationChoice"/>: the heartbeat reports it and an unsandboxed worker consumes only trusted classes.
/// A worker offering i686-linux on a kernel that cannot run 32-bit programs says so at start (<see cref="I386Support"/>).
/// </summary>
internal sealed class ExecutorSelection(
    IOptions<WorkerOptions> options, WorkerState state, IsolationChoice isolation, TimeProvider time, ILogger logger) : IBuildExecutor, IHostedService
{
    private readonly ILogger _log = logger.ForContext<ExecutorSelection>();
    private IBuildExecutor? _selected;
    private string _refusal = "the worker has not probed its build sandbox yet";

    /// <summary>True when builds run sandboxed.</summary>
    public bool Sandboxed { get; private set; }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var o = options.Value;
        // A warning, not a refusal: a derivation for i686-linux may well have a 64-bit builder (this project's demo
        // farm's "legacy" one has), and those still build here; every 32-bit builder will fail.
        if (I386Support.Needed(o.Systems) && await I386Support.ProblemAsync(cancellationToken) is { } i386)
            _log.Warning("Systems lists {System}, but {I386Problem}: every 32-bit builder will fail here; {Fix}", I386Support.System, i386, I386Support.Fix);

        var settings = SandboxSettings.From(o);
        var probe = await SandboxRunner.ProbeAsync(settings, o.Store.StoreDir, [StoreLayout.Create(o.Store.StoreDir, o.Store.Root).PhysicalStoreDir, o.BuildDir], cancellationToken);
        if (probe.Available)
        {
            var firewall = await FixedOutputFirewall.InstallAsync(o, settings.Nft, cancellationToken);
            _selected = new BuilderExecutor(new SandboxRunner(settings, time), options, firewall);
            Sandboxed = true;
            isolation.Set(new WorkerIsolation(BuildIsolation.Sandboxed, probe.Reason));
            _log.Information("Builds run in the sandbox: {SandboxReason}", probe.Reason);
            // The probe's build has just tried the overlay (on the temporary directory's file system, usually the build directory's).
            if (settings.UsesStoreView && StoreView.MountPointsInMemory)
                _log.Information("The worker lays out each build's root and mounts its inputs, one mount each, on mount points in memory (a tmpfs under an overlay of the build's store directory)");
            else if (settings.UsesStoreView)
                _log.Warning("The worker lays out each build's root and mounts its inputs, one mount each, on mount points made on disk for each build: {OverlayFailure}", StoreView.OverlayFailure ?? "turned off in the sandbox settings");
            else
                _log.Information("Inputs are bound into each build by bubblewrap, one bind each (set-up time grows with the square of the closure): {NoStoreView}",
                    !settings.PrivateStoreMounts ? "private mounts are turned off in the sandbox settings"
                        : !settings.UsesNativeLauncher ? "private mounts need the native launcher"
                        : StoreView.Unsupported ?? "private mounts need CAP_SYS_ADMIN");
            if (settings.UsesStoreView && RuntimeThreads.TieredCompilationOn())
                _log.Warning("Tiered compilation is on (DOTNET_TieredCompilation): its compiler thread can start inside a build's private mount namespace, which stops the worker; the worker is configured without it");
            if (firewall.Filtered)
                _log.Information("Fixed-output builds get the host's network, filtered: {FirewallReason}", firewall.Reason);
            else
                _log.Warning("Fixed-output builds run without network: {FirewallReason}", firewall.Reason);
        }
        else if (o.AllowUnsandboxed)
        {
            _selected = new BuilderExecutor(new UnsandboxedRunner(time), options);
            isolation.Set(new WorkerIsolation(BuildIsolation.Unsandboxed, probe.Reason));
            _log.Warning(
                "The build sandbox is not available ({SandboxReason}); AllowUnsandboxed is true, so builders run UNSANDBOXED with this worker's rights (network, whole filesystem), and this worker takes only builds submitted as trusted",
                probe.Reason);
        }
        else
        {
            _refusal = $"this worker refuses builds: the build sandbox is not available ({probe.Reason}) and AllowUnsandboxed is false";
            _log.Error(
                "The build sandbox is not available: {SandboxReason}. This worker refuses builds (starts paused; builds reaching it fail as Infrastructure) until the sandbox works or AllowUnsandboxed is set to true",
                probe.Reason);
            isolation.Set(new WorkerIsolation(BuildIsolation.None, probe.Reason));
            state.Pause("no build sandbox: " + probe.Reason);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task<ExecutionResult> RunAsync(BuildPlan plan, IBuildLog log, CancellationToken cancellationToken) =>
        _selected is { } executor
            ? executor.RunAsync(plan, log, cancellationToken)
            : Task.FromResult(new ExecutionResult(ExecutionOutcome.Infrastructure, null, _refusal));
}
