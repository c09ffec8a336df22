using System.Diagnostics;
using BuildFarm.Contracts.Builds;
using BuildFarm.Store.Local;
using BuildFarm.Store.Paths;
using BuildFarm.Worker.Configuration;
using BuildFarm.Worker.Derivations;
using BuildFarm.Worker.Events;
using BuildFarm.Worker.Lifecycle;
using BuildFarm.Worker.Origins;
using BuildFarm.Worker.Outputs;
using BuildFarm.Worker.Storage;
using Microsoft.Extensions.Options;
using Serilog;
using Serilog.Context;

namespace BuildFarm.Worker.Execution;

/// <summary>
/// Runs one claimed attempt (inputs, builder, outputs; the builder process itself is an
/// <see cref="Supervision.IBuilderRunner"/>'s) to its end and reports it: BuildSucceeded (outputs hashed, signed and
/// handed to the uploader first) or BuildFailed with the kind that tells the dispatcher whether retrying elsewhere can help.
/// A build cancelled by CancelBuild reports nothing (the dispatcher already decided); an aborted one reports
/// Infrastructure so the dispatcher republishes it at once.
/// </summary>
internal sealed class AttemptRunner(
    IOptions<WorkerOptions> options,
    IBuildExecutor executor,
    IInputProvider inputs,
    IOutputRegistrar registrar,
    IOutputUploader uploader,
    StoreCache storeCache,
    DiskSpaceGuard disk,
    OriginWatch originWatch,
    EventPublisher events,
    WorkerState state,
    TimeProvider time,
    ILogger logger)
{
    private static readonly TimeSpan PublishBudget = TimeSpan.FromMinutes(2);
    private readonly ILogger _log = logger.ForContext<AttemptRunner>();

    public async Task RunAsync(BuildDerivation request, BuildRecipe recipe, RunningBuildHandle handle)
    {
        var o = options.Value;
        using var _ = LogContext.PushProperty("BuildId", request.BuildId);
        using var __ = LogContext.PushProperty("DrvPath", request.DrvPath);
        using var ___ = LogContext.PushProperty("Attempt", request.Attempt);
        var layout = StoreLayout.Create(o.Store.StoreDir, o.Store.Root);
        var physical = recipe.Outputs.ToDictionary(
            kv => kv.Key, kv => layout.PhysicalPath(StorePath.Parse(layout.StoreDir, kv.Value)), StringComparer.Ordinal);
        var plan = new BuildPlan(request.BuildId, request.Attempt, request.DrvPath, request.StoreDir, recipe, physical, request.Limits)
        {
            InputPaths = [.. request.InputClosure.Select(i => i.Path).Concat(recipe.InputSrcs).Distinct(StringComparer.Ordinal)],
            RequiredFeatures = request.RequiredFeatures,
        };
        // Pinned for the whole attempt: no store collection evicts its inputs (nor their closure) or its outputs
        // until it has reported. Not cancellable: a collection in progress is short, and the pin must exist before any input check.
        using var pin = await storeCache.PinAsync(plan.InputPaths.Concat(recipe.Outputs.Values), CancellationToken.None);
        var log = new BuildLogStream(request.BuildId, request.Attempt, o.Name, o.Logs.MaxBytesPerBuild, o.Logs.TailLines, o.Logs.BatchInterval, events, time);
        object? outcome;
        await using (log)
        {
            outcome = await BuildAsync(request, plan, log, handle);
        }

        if (outcome is BuildFailed { Kind: BuildFailureKind.BuildFailure or BuildFailureKind.Infrastructure } failed && !state.Aborting)
            outcome = await ExplainFailureAsync(request, failed);
        using var publish = new CancellationTokenSource(PublishBudget, time);
        switch (outcome)
        {
            case BuildSucceeded s:
                await PhaseHold.AtAsync("publish", request.DrvPath, publish.Token);
                await events.PublishAsync(s, publish.Token);
                _log.Information("Built {DrvPath}: {OutputCount} outputs in {BuildTime}", request.DrvPath, s.Outputs.Count, s.Timings.Build);
                break;
            case BuildFailed f:
                await events.PublishAsync(f, publish.Token);
                _log.Warning("Build of {DrvPath} failed ({Kind}): {Reason}", request.DrvPath, f.Kind, f.Reason);
                break;
            default:
                _log.Information("Build of {DrvPath} cancelled: {Reason}", request.DrvPath, handle.CancelReason);
                break;
        }
    }

    private async Task<object?> BuildAsync(BuildDerivation request, BuildPlan plan, BuildLogStream log, RunningBuildHandle handle)
    {
        var prepared = await PhaseAsync("the worker's store is unusable", logOriginFailure: false, request, log, handle, async () =>
        {
            var (outputLock, alreadyValid) = await registrar.PrepareAsync(plan, request.WantedOutputs, handle.Cancelled);
            if (alreadyValid is null)
                return (Lock: outputLock, Done: (BuildSucceeded?)null);
            outputLock.Dispose();
            log.Line("[buildfarm: every wanted output is already valid in this worker's store; nothing to build]");
            await uploader.UploadAsync(request, alreadyValid, handle.Cancelled);
            return (Lock: (IDisposable?)null, Done: new BuildSucceeded(request.BuildId, request.Attempt, options.Value.Name, alreadyValid, new PhaseTimings(TimeSpan.Zero, TimeSpan.Zero, TimeSpan.Zero), time.GetUtcNow(), 0));
        });
        if (prepared.Ended)
            return prepared.Outcome;
        if (prepared.Value.Lock is not { } outputLock)
            return prepared.Value.Done;

        using (outputLock)
        {
            // Inputs are pulled while the outputs are locked: a concurrent attempt of the same outputs waits for us.
            var pull = await PhaseAsync("pulling the inputs into the worker's store failed", logOriginFailure: true, request, log, handle,
                () => inputs.EnsureInputsAsync(request, handle.Cancelled));
            if (pull.Ended)
                return pull.Outcome;
            var pulled = pull.Value;
            if (pulled.MissingPaths > 0)
                log.Line($"[buildfarm: pulled {pulled.MissingPaths} input path(s) from {request.Origin?.Host}:{request.Origin?.Port} in {pulled.Elapsed}]");
            _log.Information("Building {DrvPath} (attempt {Attempt})", request.DrvPath, request.Attempt);
            if (ReferenceGraph.IsUsed(plan.Recipe.Env))
            {
                var facts = await PhaseAsync("reading the input closure from the worker's store failed", logOriginFailure: false, request, log, handle,
                    () => registrar.QueryFactsAsync(request.InputClosure.Select(i => i.Path), handle.Cancelled));
                if (facts.Ended)
                    return facts.Outcome;
                // The content addresses are the origin's (the worker's store keeps none): Nix writes them into .attrs.json.
                var ca = request.InputClosure.Where(i => i.Ca is not null).DistinctBy(i => i.Path, StringComparer.Ordinal).ToDictionary(i => i.Path, i => i.Ca, StringComparer.Ordinal);
                plan = plan with { InputFacts = facts.Value.ToDictionary(f => f.Key, f => f.Value with { Ca = ca.GetValueOrDefault(f.Key) }, StringComparer.Ordinal) };
            }

            var buildClock = Stopwatch.StartNew();
            await PhaseHold.AtAsync("build", request.DrvPath, handle.Cancelled);
            var result = await executor.RunAsync(plan, log, handle.Cancelled);
            return await OutcomeAsync(request, plan, result, pulled, buildClock.Elapsed, log, handle);
        }
    }

    private async Task<object?> OutcomeAsync(
        BuildDerivation request, BuildPlan plan, ExecutionResult result, InputPullReport pulled, TimeSpan buildTime, BuildLogStream log, RunningBuildHandle handle)
    {
        switch (result.Outcome)
        {
            case ExecutionOutcome.Cancelled when state.Aborting:
                return Failed(request, BuildFailureKind.Infrastructure, null, "worker aborted", log);
            case ExecutionOutcome.Cancelled:
                log.Line($"[buildfarm: cancelled: {handle.CancelReason}]");
                return null;
            case ExecutionOutcome.Failed:
                return Failed(request, BuildFailureKind.BuildFailure, result.ExitCode, result.Reason, log);
            case ExecutionOutcome.TimedOut:
                return Failed(request, BuildFailureKind.Timeout, null, result.Reason, log);
            case ExecutionOutcome.Infrastructure:
                return Failed(request, BuildFailureKind.Infrastructure, null, result.Reason, log);
        }

        // lstat, as Nix: an output that is a symlink counts whatever it points to (a dangling one, or '/', included).
        var missing = request.WantedOutputs.Where(id => !StoreFiles.Exists(plan.OutputPhysicalPaths[id])).ToList();
        if (missing.Count > 0)
        {
            var what = string.Join(", ", missing.Select(id => $"'{id}' ({plan.Recipe.Outputs[id]})"));
            return Failed(request, BuildFailureKind.BuildFailure, 0, $"builder exited 0 but did not produce output {what}", log);
        }

        var returned = await PhaseAsync<object>("registering or returning the outputs failed", logOriginFailure: true, request, log, handle, async () =>
        {
            var uploadClock = Stopwatch.StartNew();
            var candidates = request.InputClosure.Select(i => i.Path).Concat(plan.Recipe.InputSrcs).ToList();
            if (await OutputCheckRun.CheckAsync(plan, request.WantedOutputs, candidates, registrar.QueryFactsAsync, handle.Cancelled) is { } refused)
            {
                // Checkpoint: nothing was registered or signed. The refused files go now, while we still hold the
                // output locks (a crash first leaves invalid leftovers, which the store's next open deletes).
                foreach (var id in request.WantedOutputs)
                    DeleteRefused(plan.OutputPhysicalPaths[id], log);
                log.Line($"error: {refused}");
                return Failed(request, BuildFailureKind.BuildFailure, 0, refused, log);
            }

            var outputs = await registrar.RegisterAsync(plan, request.WantedOutputs, candidates, handle.Cancelled);
            await uploader.UploadAsync(request, outputs, handle.Cancelled);
            var timings = new PhaseTimings(pulled.Elapsed, buildTime, uploadClock.Elapsed);
            return new BuildSucceeded(request.BuildId, request.Attempt, options.Value.Name, outputs, timings, time.GetUtcNow(), pulled.FetchedBytes);
        });
        return returned.Ended ? returned.Outcome : returned.Value;
    }

    /// <summary>
    /// Before a failure is reported: a full disk makes it an infrastructure failure whatever the builder said (a
    /// builder that met ENOSPC exits like a broken build, and no retry here could succeed), and the worker pauses itself
    /// (<see cref="DiskSpaceGuard"/>); an infrastructure failure with the disk fine may be a cut origin link
    /// (<see cref="OriginWatch"/>). Both pause the worker before the dispatcher hears of the failure, so its retry goes
    /// to another worker instead of spending the build's next attempt here.
    /// </summary>
    private async Task<BuildFailed> ExplainFailureAsync(BuildDerivation request, BuildFailed failed)
    {
        using var budget = new CancellationTokenSource(TimeSpan.FromSeconds(30), time);
        try
        {
            if (await disk.CheckAsync(budget.Token) is { } full)
                return failed with { Kind = BuildFailureKind.Infrastructure, ExitCode = null, Reason = $"this worker's {full} (the attempt ended: {failed.Reason})" };
            if (failed.Kind == BuildFailureKind.Infrastructure && request.Origin is { } origin)
                await originWatch.AfterFailureAsync(origin, budget.Token);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException or OperationCanceledException)
        {
            _log.Warning("Could not check the disk or the origin after a failed build: {Error}", e.Message);
        }

        return failed;
    }

    /// <summary>
    /// Runs one phase that works on the worker's store or an origin. A failure ends the attempt (Ended): cancelled
    /// reports nothing (null), unless the worker is aborting (Infrastructure, so the dispatcher republishes at once);
    /// an origin's refusal or transfer failure and an unusable store are Infrastructure, with
    /// <paramref name="storeFailure"/> naming the phase.
    /// </summary>
    private async Task<(bool Ended, T Value, object? Outcome)> PhaseAsync<T>(
        string storeFailure, bool logOriginFailure, BuildDerivation request, BuildLogStream log, RunningBuildHandle handle, Func<Task<T>> run)
    {
        try
        {
            return (false, await run(), null);
        }
        catch (OperationCanceledException) when (handle.Cancelled.IsCancellationRequested)
        {
            return (true, default!, state.Aborting ? Failed(request, BuildFailureKind.Infrastructure, null, "worker aborted", log) : null);
        }
        catch (OriginException e)
        {
            if (logOriginFailure)
                log.Line($"[buildfarm: {e.Message}]");
            return (true, default!, Failed(request, e.Permanent ? BuildFailureKind.Rejected : BuildFailureKind.Infrastructure, null, e.Message, log));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException or StoreException)
        {
            return (true, default!, Failed(request, BuildFailureKind.Infrastructure, null, $"{storeFailure}: {e.Message}", log));
        }
    }

    /// <summary>A refused output that cannot be deleted now stays an invalid leftover; the build still fails as refused.</summary>
    private void DeleteRefused(string physicalPath, BuildLogStream log)
    {
        try
        {
            BuildDirectories.DeleteStale(physicalPath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            log.Line($"[buildfarm: could not delete the refused output {physicalPath}: {e.Message}]");
            _log.Warning("Could not delete the refused output {Path}: {Error}", physicalPath, e.Message);
        }
    }

    private BuildFailed Failed(BuildDerivation r, BuildFailureKind kind, int? exitCode, string reason, BuildLogStream log) =>
        new(r.BuildId, r.Attempt, options.Value.Name, kind, exitCode, reason, log.Tail, time.GetUtcNow());
}
