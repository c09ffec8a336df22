using System.Buffers;
using System.ComponentModel;
using System.Diagnostics;

namespace BuildFarm.Worker.Supervision;

/// <summary>What the launched command writes on its stderr.</summary>
internal enum StderrRole
{
    /// <summary>
    /// Diagnostics of a setup phase that ends with <see cref="BuilderSupervisor.ReadyMarker"/>, written right before
    /// the command execs the builder with the builder's stderr merged into stdout: no marker means the builder never
    /// started.
    /// </summary>
    SetupDiagnostics,

    /// <summary>The builder's own stderr: log, like stdout (the command is the builder, there is no setup phase).</summary>
    BuilderLog,
}

/// <summary>
/// The one process-supervision primitive of the worker, for sandboxed and unsandboxed builders alike: launches a
/// prepared command, pumps its output to the log callback, enforces timeout and max-silent-time, kills the whole
/// <see cref="ProcessTree"/> on cancel, on a limit and after the command exits, and turns what happened into a
/// <see cref="BuilderResult"/>. It returns only once the tree is gone.
/// </summary>
internal static class BuilderSupervisor
{
    public const string ReadyMarker = "buildfarm-sandbox: ready";

    // Only reachable without a PID namespace: a child that escaped the process group may hold a pipe open.
    private static readonly TimeSpan DrainGrace = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan MaxWatchdogSleep = TimeSpan.FromMinutes(10);

    public static async Task<BuilderResult> RunAsync(
        ProcessStartInfo psi,
        ProcessTree tree,
        StderrRole stderrRole,
        BuilderSpec spec,
        Func<ReadOnlyMemory<byte>, CancellationToken, ValueTask> onLog,
        TimeProvider time,
        CancellationToken cancellationToken,
        ResourceWatch? resources = null)
    {
        var started = time.GetTimestamp();
        if (cancellationToken.IsCancellationRequested)
            return new BuilderResult(BuilderOutcome.Cancelled, null, "cancelled before the build started", TimeSpan.Zero, 0);
        psi.UseShellExecute = false;
        psi.RedirectStandardInput = true;
        psi.RedirectStandardOutput = true;
        psi.RedirectStandardError = true;
        Process process;
        try
        {
            process = Process.Start(psi) ?? throw new Win32Exception("no process was started");
        }
        catch (Win32Exception e)
        {
            return new BuilderResult(BuilderOutcome.SetupFailed, null, $"cannot start {psi.FileName}: {e.Message}", time.GetElapsedTime(started), 0);
        }

        using (process)
        {
            process.StandardInput.Close();
            var watch = new BuildWatch(process, tree, time);
            using var log = new SerialLog(onLog, watch, cancellationToken);
            using var drain = new CancellationTokenSource();
            Task<string>? setupDiagnostics = null;
            Task pump;
            if (stderrRole == StderrRole.SetupDiagnostics)
            {
                setupDiagnostics = process.StandardError.ReadToEndAsync(drain.Token);
                pump = PumpAsync(process.StandardOutput.BaseStream, wholeLines: false, watch, log, drain.Token);
            }
            else
            {
                // Two pipes into one log: each forwards whole lines, so lines of stdout and stderr never mix.
                pump = Task.WhenAll(
                    PumpAsync(process.StandardOutput.BaseStream, wholeLines: true, watch, log, drain.Token),
                    PumpAsync(process.StandardError.BaseStream, wholeLines: true, watch, log, drain.Token));
            }

            using var stopWatchdog = new CancellationTokenSource();
            var watchdog = Task.WhenAll(WatchAsync(watch, spec, time, stopWatchdog.Token), WatchResourcesAsync(watch, resources, time, stopWatchdog.Token));
            // Cancellation never abandons the wait: it kills the tree, and we return only once the tree is gone.
            using (cancellationToken.Register(() => watch.Kill(BuilderOutcome.Cancelled, "the build was cancelled")))
            {
                await process.WaitForExitAsync(CancellationToken.None);
                watch.MarkExited();
            }

            // Whatever the builder left running dies with it; then the pipes close and the pumps finish.
            tree.AfterExit(process.Id);
            await stopWatchdog.CancelAsync();
            await watchdog;
            drain.CancelAfter(DrainGrace);
            await pump;
            var diagnostics = setupDiagnostics is null ? null : await ReadOrEmptyAsync(setupDiagnostics);

            if (watch.LogFailure is { } failure && !(failure is OperationCanceledException && cancellationToken.IsCancellationRequested))
                throw new InvalidOperationException("the build log consumer failed; the build was killed", failure);
            var elapsed = time.GetElapsedTime(started);
            if (watch.KilledFor is { } reason)
                return new BuilderResult(reason, process.ExitCode, watch.KillMessage, elapsed, watch.LogBytes);
            if (diagnostics is not null && !diagnostics.Contains(ReadyMarker, StringComparison.Ordinal))
            {
                var why = diagnostics.Trim();
                return new BuilderResult(BuilderOutcome.SetupFailed, null,
                    why.Length > 0 ? why : $"{psi.FileName} exited {process.ExitCode} before starting the builder", elapsed, watch.LogBytes);
            }

            return new BuilderResult(BuilderOutcome.Exited, process.ExitCode, null, elapsed, watch.LogBytes);
        }
    }

    /// <summary>
    /// Reads <paramref name="stream"/> to its end (or until <paramref name="abandon"/>) into the log. With
    /// <paramref name="wholeLines"/>, a chunk ends at a newline (the rest waits for the next read) unless a line
    /// fills the whole buffer.
    /// </summary>
    private static async Task PumpAsync(Stream stream, bool wholeLines, BuildWatch watch, SerialLog log, CancellationToken abandon)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
        var held = 0;
        try
        {
            while (true)
            {
                int n;
                try
                {
                    n = await stream.ReadAsync(buffer.AsMemory(held), abandon);
                }
                catch (Exception e) when (e is OperationCanceledException or IOException or ObjectDisposedException)
                {
                    break;
                }

                if (n == 0)
                    break;
                watch.Output(n);
                var end = held + n;
                var cut = wholeLines ? buffer.AsSpan(0, end).LastIndexOf((byte)'\n') + 1 : end;
                if (cut == 0 && end == buffer.Length)
                    cut = end;
                if (cut > 0)
                    await log.WriteAsync(buffer.AsMemory(0, cut));
                buffer.AsSpan(cut, end - cut).CopyTo(buffer);
                held = end - cut;
            }

            if (held > 0)
                await log.WriteAsync(buffer.AsMemory(0, held));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static async Task WatchAsync(BuildWatch watch, BuilderSpec spec, TimeProvider time, CancellationToken stop)
    {
        var hasTimeout = IsLimit(spec.Timeout);
        var hasSilence = IsLimit(spec.MaxSilentTime);
        if (!hasTimeout && !hasSilence)
            return;
        try
        {
            while (true)
            {
                var now = time.GetTimestamp();
                var wallLeft = hasTimeout ? spec.Timeout - time.GetElapsedTime(watch.Started, now) : MaxWatchdogSleep;
                var silentLeft = hasSilence ? spec.MaxSilentTime - time.GetElapsedTime(watch.LastOutput, now) : MaxWatchdogSleep;
                if (wallLeft <= TimeSpan.Zero)
                {
                    watch.Kill(BuilderOutcome.TimedOut, $"build timed out after {spec.Timeout.TotalSeconds:0.###} s");
                    return;
                }

                if (silentLeft <= TimeSpan.Zero)
                {
                    watch.Kill(BuilderOutcome.Silent, $"build produced no output for {spec.MaxSilentTime.TotalSeconds:0.###} s");
                    return;
                }

                var sleep = new[] { wallLeft, silentLeft, MaxWatchdogSleep }.Min();
                await Task.Delay(sleep, time, stop);
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // The build ended first.
        }
    }

    private static async Task WatchResourcesAsync(BuildWatch watch, ResourceWatch? resources, TimeProvider time, CancellationToken stop)
    {
        if (resources is null)
            return;
        try
        {
            while (true)
            {
                await Task.Delay(resources.Interval, time, stop);
                // The check walks the build's files: off the timer's thread.
                if (await Task.Run(resources.Check, stop) is { } exceeded)
                {
                    watch.Kill(BuilderOutcome.LimitExceeded, exceeded);
                    return;
                }
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // The build ended first.
        }
    }

    private static bool IsLimit(TimeSpan limit) => limit > TimeSpan.Zero && limit != Timeout.InfiniteTimeSpan;

    private static async Task<string> ReadOrEmptyAsync(Task<string> stderr)
    {
        try
        {
            return await stderr;
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or ObjectDisposedException)
        {
            return "";
        }
    }

    /// <summary>
    /// The log callback, called by one pump at a time; its first failure kills the tree (<see cref="BuildWatch.FailLog"/>)
    /// and later output is dropped.
    /// </summary>
    private sealed class SerialLog(Func<ReadOnlyMemory<byte>, CancellationToken, ValueTask> onLog, BuildWatch watch, CancellationToken cancellationToken) : IDisposable
    {
        private readonly SemaphoreSlim _gate = new(1, 1);

        public async ValueTask WriteAsync(ReadOnlyMemory<byte> chunk)
        {
            await _gate.WaitAsync(CancellationToken.None);
            try
            {
                if (watch.LogFailure is null)
                    await onLog(chunk, cancellationToken);
            }
#pragma warning disable CA1031 // Any failure of the consumer kills the build and is rethrown by RunAsync.
            catch (Exception e)
#pragma warning restore CA1031
            {
                watch.FailLog(e);
            }
            finally
            {
                _gate.Release();
            }
        }

        public void Dispose() => _gate.Dispose();
    }
}
