using System.Buffers;
using System.ComponentModel;
using System.Diagnostics;

namespace BuildFarm.Worker.Sandbox;

/// <summary>
/// Launches a prepared command, streams its stdout to the log callback, enforces timeout and max-silent-time,
/// and turns what happened into a <see cref="SandboxResult"/>. The command must write
/// <see cref="ReadyMarker"/> to its stderr right before it execs the builder (with the builder's stderr merged into
/// stdout): anything else on stderr is a diagnostic of the setup, and no marker means the builder never started.
/// </summary>
internal static class BuildSupervisor
{
    public const string ReadyMarker = "buildfarm-sandbox: ready";

    // Only reachable without a PID namespace: a child that escaped the process group may hold the pipe open.
    private static readonly TimeSpan DrainGrace = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan MaxWatchdogSleep = TimeSpan.FromMinutes(10);

    public static async Task<SandboxResult> RunAsync(
        ProcessStartInfo psi,
        SandboxSpec spec,
        ProcessTree tree,
        Func<ReadOnlyMemory<byte>, CancellationToken, ValueTask> onLog,
        TimeProvider time,
        CancellationToken cancellationToken)
    {
        var started = time.GetTimestamp();
        if (cancellationToken.IsCancellationRequested)
            return new SandboxResult(SandboxOutcome.Cancelled, null, "cancelled before the build started", TimeSpan.Zero, 0);
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
            return new SandboxResult(SandboxOutcome.SetupFailed, null, $"cannot start {psi.FileName}: {e.Message}", time.GetElapsedTime(started), 0);
        }

        using (process)
        {
            process.StandardInput.Close();
            var watch = new BuildWatch(process, tree, time);
            using var drain = new CancellationTokenSource();
            var stderr = process.StandardError.ReadToEndAsync(drain.Token);
            var pump = PumpAsync(process.StandardOutput.BaseStream, watch, onLog, cancellationToken, drain.Token);
            using var stopWatchdog = new CancellationTokenSource();
            var watchdog = WatchAsync(watch, spec, time, stopWatchdog.Token);
            // Cancellation never abandons the wait: it kills the tree, and we return only once the tree is gone.
            using (cancellationToken.Register(() => watch.Kill(SandboxOutcome.Cancelled, "the build was cancelled")))
            {
                await process.WaitForExitAsync(CancellationToken.None);
                watch.MarkExited();
            }

            tree.AfterExit(process.Id);
            await stopWatchdog.CancelAsync();
            await watchdog;
            drain.CancelAfter(DrainGrace);
            await pump;
            var diagnostics = await ReadOrEmptyAsync(stderr);

            if (watch.LogFailure is { } failure && !(failure is OperationCanceledException && cancellationToken.IsCancellationRequested))
                throw new InvalidOperationException("the build log consumer failed; the build was killed", failure);
            var elapsed = time.GetElapsedTime(started);
            if (watch.KilledFor is { } reason)
                return new SandboxResult(reason, process.ExitCode, watch.KillMessage, elapsed, watch.LogBytes);
            if (!diagnostics.Contains(ReadyMarker, StringComparison.Ordinal))
            {
                var why = diagnostics.Trim();
                return new SandboxResult(SandboxOutcome.SetupFailed, null,
                    why.Length > 0 ? why : $"{psi.FileName} exited {process.ExitCode} before starting the builder", elapsed, watch.LogBytes);
            }

            return new SandboxResult(SandboxOutcome.Exited, process.ExitCode, null, elapsed, watch.LogBytes);
        }
    }

    private static async Task PumpAsync(Stream stdout, BuildWatch watch, Func<ReadOnlyMemory<byte>, CancellationToken, ValueTask> onLog, CancellationToken cancellationToken, CancellationToken abandon)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            while (true)
            {
                int n;
                try
                {
                    n = await stdout.ReadAsync(buffer, abandon);
                }
                catch (Exception e) when (e is OperationCanceledException or IOException or ObjectDisposedException)
                {
                    return;
                }

                if (n == 0)
                    return;
                watch.Output(n);
                if (watch.LogFailure is not null)
                    continue;
                try
                {
                    await onLog(buffer.AsMemory(0, n), cancellationToken);
                }
#pragma warning disable CA1031 // Any failure of the consumer kills the build and is rethrown by RunAsync.
                catch (Exception e)
#pragma warning restore CA1031
                {
                    watch.FailLog(e);
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static async Task WatchAsync(BuildWatch watch, SandboxSpec spec, TimeProvider time, CancellationToken stop)
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
                    watch.Kill(SandboxOutcome.TimedOut, $"build timed out after {spec.Timeout.TotalSeconds:0.###} s");
                    return;
                }

                if (silentLeft <= TimeSpan.Zero)
                {
                    watch.Kill(SandboxOutcome.Silent, $"build produced no output for {spec.MaxSilentTime.TotalSeconds:0.###} s");
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
}
