using System.Diagnostics;
using BuildFarm.Worker.Configuration;
using BuildFarm.Worker.Derivations;
using Microsoft.Extensions.Options;
using Serilog;

namespace BuildFarm.Worker.Execution;

/// <summary>
/// Runs the builder directly on this machine, without a sandbox (only when <c>AllowUnsandboxed</c> is set):
/// fresh build directory, Nix's environment, wall-clock timeout and max-silent-time, and the whole process group
/// killed on cancel, on timeout and after the builder exits (no stray children outlive a build).
/// </summary>
internal sealed class LocalExecutor(IOptions<WorkerOptions> options, TimeProvider time, ILogger logger) : IBuildExecutor
{
    private readonly ILogger _log = logger.ForContext<LocalExecutor>();

    public async Task<ExecutionResult> RunAsync(BuildPlan plan, IBuildLog log, CancellationToken cancellationToken)
    {
        var o = options.Value;
        if (BuildDirectories.TryPrepare(o.BuildDir, plan, out var buildDir) is { } unprepared)
            return unprepared;

        try
        {
            var cores = o.BuildCores > 0 ? o.BuildCores : Environment.ProcessorCount;
            if (Refusals.Check(plan.DrvPath, plan.Recipe.Builder, plan.Recipe.Env, sandboxed: false) is { } refusal)
            {
                log.Line($"error: {refusal}");
                return new ExecutionResult(ExecutionOutcome.Failed, null, refusal);
            }

            BuilderSetup setup;
            try
            {
                setup = BuildEnvironment.Create(plan, buildDir, cores, plan.OutputPhysicalPaths);
            }
            catch (DerivationAttributeException e)
            {
                log.Line($"error: {e.Message}");
                return new ExecutionResult(ExecutionOutcome.Failed, null, e.Message);
            }

            return await RunBuilderAsync(plan, setup, buildDir, log, cancellationToken);
        }
        finally
        {
            BuildDirectories.TryDelete(buildDir);
            File.Delete(buildDir + ".exec");
        }
    }

    private async Task<ExecutionResult> RunBuilderAsync(
        BuildPlan plan, BuilderSetup setup, string buildDir, IBuildLog log, CancellationToken cancellationToken)
    {
        var psi = new ProcessStartInfo(ProcessGroup.Setsid)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = buildDir,
        };
        ByteExactExec.Prepare(psi, plan.Recipe.Builder, setup, buildDir + ".exec");

        using var timeout = new CancellationTokenSource(Positive(plan.Limits.Timeout), time);
        using var silence = new CancellationTokenSource(Positive(plan.Limits.MaxSilentTime), time);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token, silence.Token);
        Process process;
        try
        {
            process = Process.Start(psi) ?? throw new InvalidOperationException("Process.Start returned null");
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            return new ExecutionResult(ExecutionOutcome.Infrastructure, null, $"cannot start builder {plan.Recipe.Builder}: {e.Message}");
        }

        using (process)
        {
            var pgid = process.Id;
            process.StandardInput.Close();
            void OnLine(string line)
            {
                if (plan.Limits.MaxSilentTime > TimeSpan.Zero)
                    silence.CancelAfter(plan.Limits.MaxSilentTime);
                log.Line(line);
            }

            var pumps = Task.WhenAll(Pump(process.StandardOutput, OnLine), Pump(process.StandardError, OnLine));
            using (stop.Token.Register(() => ProcessGroup.Kill(pgid)))
            {
                await process.WaitForExitAsync(CancellationToken.None);
            }

            // Whatever the builder left running dies with it; then the pipes close and the pumps finish.
            ProcessGroup.Kill(pgid);
            try
            {
                await pumps.WaitAsync(TimeSpan.FromSeconds(10), time, CancellationToken.None);
            }
            catch (TimeoutException)
            {
                _log.Warning("Output pipes of {DrvPath} still open 10 s after the builder exited (a process left its session?)", plan.DrvPath);
            }

            var exit = process.ExitCode;
            if (cancellationToken.IsCancellationRequested)
                return new ExecutionResult(ExecutionOutcome.Cancelled, null, "cancelled");
            if (timeout.IsCancellationRequested)
                return new ExecutionResult(ExecutionOutcome.TimedOut, null, $"timed out after {plan.Limits.Timeout}");
            if (silence.IsCancellationRequested)
                return new ExecutionResult(ExecutionOutcome.TimedOut, null, $"no output for {plan.Limits.MaxSilentTime} (max-silent-time)");
            _log.Debug("Builder of {DrvPath} exited {ExitCode}", plan.DrvPath, exit);
            return exit == 0
                ? new ExecutionResult(ExecutionOutcome.Succeeded, 0, "builder exited 0")
                : new ExecutionResult(ExecutionOutcome.Failed, exit, $"builder {plan.Recipe.Builder} exited with code {exit}");
        }
    }

    private static TimeSpan Positive(TimeSpan t) => t > TimeSpan.Zero ? t : Timeout.InfiniteTimeSpan;

    private static async Task Pump(StreamReader reader, Action<string> onLine)
    {
        while (await reader.ReadLineAsync(CancellationToken.None) is { } line)
            onLine(line);
    }
}
