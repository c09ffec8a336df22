using BuildFarm.Store.Paths;
using BuildFarm.Worker.Configuration;
using BuildFarm.Worker.Derivations;
using BuildFarm.Worker.Sandbox;
using Microsoft.Extensions.Options;

namespace BuildFarm.Worker.Execution;

/// <summary>
/// Runs builders through the sandbox (<see cref="SandboxRunner"/>): the worker's physical store bind-mounted at the
/// logical store directory, own PID namespace (the whole tree dies on cancel, timeout or max-silent-time), and only
/// loopback unless the derivation is fixed-output (<c>outputHash</c> in its environment). Outputs are written at
/// their logical paths inside the sandbox, which land in the physical store.
/// </summary>
internal sealed class SandboxExecutor(IBuildRunner runner, IOptions<WorkerOptions> options) : IBuildExecutor
{
    public async Task<ExecutionResult> RunAsync(BuildPlan plan, IBuildLog log, CancellationToken cancellationToken)
    {
        var o = options.Value;
        if (BuildDirectories.TryPrepare(o.BuildDir, plan, out var buildDir) is { } unprepared)
            return unprepared;

        try
        {
            var cores = o.BuildCores > 0 ? o.BuildCores : Environment.ProcessorCount;
            if (Refusals.Check(plan.DrvPath, plan.Recipe.Builder, plan.Recipe.Env, sandboxed: true) is { } refusal)
            {
                log.Line($"error: {refusal}");
                return new ExecutionResult(ExecutionOutcome.Failed, null, refusal);
            }

            BuilderSetup setup;
            try
            {
                // Inside the sandbox the store is at its logical place: outputs are named by their logical paths.
                setup = BuildEnvironment.Create(plan, buildDir, cores, plan.Recipe.Outputs);
            }
            catch (DerivationAttributeException e)
            {
                log.Line($"error: {e.Message}");
                return new ExecutionResult(ExecutionOutcome.Failed, null, e.Message);
            }

            var layout = StoreLayout.Create(o.Store.StoreDir, o.Store.Root);
            var spec = new SandboxSpec(
                plan.Recipe.Builder, setup.Args, setup.Env, plan.StoreDir, layout.PhysicalStoreDir, buildDir,
                AllowNetwork: plan.Recipe.Env.ContainsKey("outputHash"), plan.Limits.Timeout, plan.Limits.MaxSilentTime);
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
        }
    }

    private static ExecutionResult Map(BuildPlan plan, SandboxResult r) => r.Outcome switch
    {
        SandboxOutcome.Exited when r.ExitCode == 0 => new ExecutionResult(ExecutionOutcome.Succeeded, 0, "builder exited 0"),
        SandboxOutcome.Exited => new ExecutionResult(ExecutionOutcome.Failed, r.ExitCode, $"builder {plan.Recipe.Builder} exited with code {r.ExitCode}"),
        SandboxOutcome.TimedOut => new ExecutionResult(ExecutionOutcome.TimedOut, null, $"timed out after {plan.Limits.Timeout}"),
        SandboxOutcome.Silent => new ExecutionResult(ExecutionOutcome.TimedOut, null, $"no output for {plan.Limits.MaxSilentTime} (max-silent-time)"),
        SandboxOutcome.Cancelled => new ExecutionResult(ExecutionOutcome.Cancelled, null, "cancelled"),
        SandboxOutcome.Rejected => new ExecutionResult(ExecutionOutcome.Failed, null, r.Error ?? "the sandbox rejected the build"),
        _ => new ExecutionResult(ExecutionOutcome.Infrastructure, null, $"the build sandbox could not be set up: {r.Error}"),
    };
}
