using BuildFarm.Store.Paths;
using BuildFarm.Worker.Configuration;
using BuildFarm.Worker.Derivations;
using BuildFarm.Worker.Sandbox;
using BuildFarm.Worker.Supervision;
using Microsoft.Extensions.Options;

namespace BuildFarm.Worker.Execution;

/// <summary>
/// The one executor: prepares a fresh build directory and Nix's environment, runs the builder through an
/// <see cref="IBuilderRunner"/> (the sandbox, or unsandboxed where the operator allowed it) and maps how it ended.
/// Sandboxed, outputs are written at their logical paths, which land in the physical store; unsandboxed, at their
/// physical paths. The whole process tree dies on cancel, timeout or max-silent-time.
/// </summary>
internal sealed class BuilderExecutor(IBuilderRunner runner, IOptions<WorkerOptions> options, FixedOutputFirewall? firewall = null) : IBuildExecutor
{
    public async Task<ExecutionResult> RunAsync(BuildPlan plan, IBuildLog log, CancellationToken cancellationToken)
    {
        var o = options.Value;
        if (BuildDirectories.TryPrepare(o.BuildDir, plan, out var buildDir) is { } unprepared)
            return unprepared;

        try
        {
            var cores = o.BuildCores > 0 ? o.BuildCores : Environment.ProcessorCount;
            // Nix refuses __noChroot only with sandbox = true: here, only when the builder runs in the sandbox.
            if (Refusals.Check(plan.DrvPath, plan.Recipe.Builder, plan.Recipe.Env, sandboxed: runner.SeesLogicalStore) is { } refusal)
            {
                log.Line($"error: {refusal}");
                return new ExecutionResult(ExecutionOutcome.Failed, null, refusal);
            }

            // The builder's view of its build directory: Nix's /build in the sandbox, the host path without it.
            var visibleBuildDir = runner.SeesLogicalStore ? BwrapArguments.BuildDir : buildDir;
            BuilderSetup setup;
            try
            {
                setup = BuildEnvironment.Create(plan, buildDir, visibleBuildDir, cores, runner.SeesLogicalStore ? plan.Recipe.Outputs : plan.OutputPhysicalPaths);
            }
            catch (DerivationAttributeException e)
            {
                log.Line($"error: {e.Message}");
                return new ExecutionResult(ExecutionOutcome.Failed, null, e.Message);
            }

            // The sandbox hands bubblewrap every byte itself (and gives the builder its argv[0]); unsandboxed, the
            // builder starts through ArgvZeroExec for Nix's argv[0], and non-UTF-8 strings go through a file.
            var unsandboxedBuilder = plan.Recipe.Builder;
            if (!runner.SeesLogicalStore && ArgvZeroExec.Supported)
            {
                ArgvZeroExec.Write(ArgvZeroFile(buildDir));
                var command = ArgvZeroExec.Command(ArgvZeroFile(buildDir), plan.Recipe.Builder, setup.Args);
                unsandboxedBuilder = command[0];
                setup = setup with { Args = command.Skip(1).ToList() };
            }

            var (builder, args, env) = runner.SeesLogicalStore
                ? (plan.Recipe.Builder, setup.Args, (IReadOnlyDictionary<string, string>)setup.Env)
                : ByteExactExec.Wrap(unsandboxedBuilder, setup, ExecFile(buildDir));
            var layout = StoreLayout.Create(o.Store.StoreDir, o.Store.Root);
            // A fixed-output build fetches, so it gets the host's network, but only where the control plane is filtered.
            var network = plan.Recipe.Env.ContainsKey("outputHash");
            if (network && runner.SeesLogicalStore && firewall is not { Filtered: true })
            {
                log.Line($"[buildfarm: this fixed-output build runs without network: {(firewall ?? FixedOutputFirewall.None).Reason}]");
                network = false;
            }

            var spec = new BuilderSpec(
                builder, args, env, plan.StoreDir, layout.PhysicalStoreDir, buildDir,
                AllowNetwork: network, plan.Limits.Timeout, plan.Limits.MaxSilentTime,
                InputPaths: plan.InputPaths,
                OutputPaths: [.. plan.Recipe.Outputs.Values],
                Devices: plan.RequiredFeatures.Contains("kvm") ? ["/dev/kvm"] : []);
            var lines = new LogLineSplitter(log);
            var result = await runner.RunAsync(
                spec,
                (chunk, _) =>
                {
                    lines.Write(chunk.Span);
                    return ValueTask.CompletedTask;
                },
                cancellationToken);
            lines.Flush();
            return Map(plan, result);
        }
        finally
        {
            BuildDirectories.TryDelete(buildDir);
            File.Delete(ExecFile(buildDir));
            File.Delete(ArgvZeroFile(buildDir));
        }
    }

    private static string ArgvZeroFile(string buildDir) => buildDir + ".argv0";

    /// <summary>Beside the build directory, not in it: Nix puts nothing of its own there.</summary>
    private static string ExecFile(string buildDir) => buildDir + ".exec";

    private ExecutionResult Map(BuildPlan plan, BuilderResult r) => r.Outcome switch
    {
        BuilderOutcome.Exited when r.ExitCode == 0 => new ExecutionResult(ExecutionOutcome.Succeeded, 0, "builder exited 0"),
        BuilderOutcome.Exited => new ExecutionResult(ExecutionOutcome.Failed, r.ExitCode, $"builder {plan.Recipe.Builder} exited with code {r.ExitCode}"),
        BuilderOutcome.TimedOut => new ExecutionResult(ExecutionOutcome.TimedOut, null, $"timed out after {plan.Limits.Timeout}"),
        BuilderOutcome.Silent => new ExecutionResult(ExecutionOutcome.TimedOut, null, $"no output for {plan.Limits.MaxSilentTime} (max-silent-time)"),
        BuilderOutcome.Cancelled => new ExecutionResult(ExecutionOutcome.Cancelled, null, "cancelled"),
        BuilderOutcome.LimitExceeded => new ExecutionResult(ExecutionOutcome.Failed, r.ExitCode, r.Error ?? "the build exceeded a sandbox limit"),
        BuilderOutcome.Rejected => new ExecutionResult(ExecutionOutcome.Failed, null, r.Error ?? "the sandbox rejected the build"),
        _ when runner.SeesLogicalStore => new ExecutionResult(ExecutionOutcome.Infrastructure, null, $"the build sandbox could not be set up: {r.Error}"),
        _ => new ExecutionResult(ExecutionOutcome.Infrastructure, null, $"cannot start the builder: {r.Error}"),
    };
}
