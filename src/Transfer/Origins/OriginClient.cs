using System.IO.Compression;
using BuildFarm.Transfer.Connections;
using BuildFarm.Transfer.Errors;
using BuildFarm.Transfer.Exec;
using BuildFarm.Transfer.Resilience;
using Serilog;

namespace BuildFarm.Transfer.Origins;

/// <summary>
/// Everything a worker (or the dispatcher) does with one origin over SSH: a connection pool, a resilience pipeline,
/// and remote commands whose stdout or stdin are streamed. One instance per origin, shared by all builds.
/// </summary>
public sealed class OriginClient : IAsyncDisposable
{
    private const int CapturedStdoutLimit = 1024 * 1024;
    private static readonly TimeSpan FailedExitWait = TimeSpan.FromSeconds(5);
    private readonly TimeProvider _time;

    public OriginClient(OriginConnectionSettings settings, TransferResilienceOptions? resilience = null, ILogger? logger = null, TimeProvider? timeProvider = null)
    {
        Settings = settings.EnsureValid();
        Pool = new OriginConnectionPool(settings, logger);
        Resilience = new OriginResilience(settings.Name, resilience ?? new TransferResilienceOptions(), logger, timeProvider);
        _time = timeProvider ?? TimeProvider.System;
    }

    public OriginConnectionSettings Settings { get; }

    public OriginConnectionPool Pool { get; }

    public OriginResilience Resilience { get; }

    /// <summary>
    /// Starts <paramref name="command"/> on a pooled connection, once, without retries. The caller owns the returned
    /// process (dispose it); <paramref name="lifetime"/> cancelling kills the remote command.
    /// </summary>
    public async Task<RemoteProcess> StartAsync(string command, CancellationToken lifetime)
    {
        var lease = await Pool.AcquireAsync(lifetime);
        return await lease.Connection.StartAsync(Settings.Name, lease, command, lifetime);
    }

    /// <summary>
    /// Runs <paramref name="command"/> and hands its stdout to <paramref name="readStdout"/> as it arrives (never
    /// buffered whole). Delivery: on a transient failure the whole operation runs again with a fresh stream, so
    /// <paramref name="readStdout"/> must be safe to restart (e.g. an import that skips paths already valid).
    /// A non-zero exit is a <see cref="RemoteCommandFailedException"/>, checked after the reader returns.
    /// </summary>
    public Task<T> DownloadAsync<T>(string command, Func<Stream, CancellationToken, Task<T>> readStdout, CancellationToken cancellationToken)
    {
        var gzip = Settings.Compression == TransferCompression.RemoteGzip;
        var remote = gzip ? ShellCommand.GzipStdout(command) : command;
        return Resilience.ExecuteAsync(
            async ct =>
            {
                await using var process = await StartAsync(remote, ct);
                T result;
                try
                {
                    if (gzip)
                    {
                        await using var decompressed = new GZipStream(process.Stdout, CompressionMode.Decompress, leaveOpen: true);
                        result = await readStdout(decompressed, ct);
                    }
                    else
                    {
                        result = await readStdout(process.Stdout, ct);
                    }
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    // A reader failing on a short or empty stream usually means the remote command failed (not
                    // found, refused, crashed): its exit status and stderr say why better than "truncated archive".
                    if (await process.TryFailedExitAsync(FailedExitWait, ct) is { } failed)
                        throw new RemoteCommandFailedException(Settings.Name, command, failed, e);
                    throw;
                }

                // Whatever the reader left unread is drained so the exit status can arrive.
                await process.Stdout.CopyToAsync(Stream.Null, ct);
                await EnsureSucceededAsync(process, command, ct);
                return result;
            },
            cancellationToken);
    }

    /// <summary>
    /// Runs <paramref name="command"/> with <paramref name="writeStdin"/> writing its stdin (closed when the writer
    /// returns). Writes block while the origin is not reading, so nothing piles up in memory. Retried as a whole on
    /// transient failures: the writer must be able to start over. Returns the command's stdout (up to 1 MiB). With
    /// <paramref name="stallTimeout"/>, an attempt that makes no progress for that long (no byte taken by the channel,
    /// or no exit after the last one) is given up with an <see cref="UploadStalledException"/>, not retried, and its
    /// connection dropped (<see cref="UploadStallGuard"/>).
    /// </summary>
    public Task<string> UploadAsync(string command, Func<Stream, CancellationToken, Task> writeStdin, CancellationToken cancellationToken, TimeSpan? stallTimeout = null) =>
        Resilience.ExecuteAsync(
            async ct =>
            {
                var process = await StartAsync(command, ct);
                var stdin = process.OpenStdin();
                if (stallTimeout is not { } timeout)
                {
                    await using (process)
                        return await UploadOnceAsync(process, stdin, command, writeStdin, ct);
                }

                var guard = new UploadStallGuard(timeout, () => stdin.Position, process.Abort, _time);
                try
                {
                    return await guard.RunAsync(Settings.Name, command, c => UploadOnceAsync(process, stdin, command, writeStdin, c), ct);
                }
                finally
                {
                    guard.Dispose();
                    if (guard.Stalled)
                        _ = Task.Run(() => process.DisposeAsync().AsTask(), CancellationToken.None); // may wait on the dead link: not the caller's time
                    else
                        await process.DisposeAsync();
                }
            },
            cancellationToken);

    private async Task<string> UploadOnceAsync(RemoteProcess process, Stream stdin, string command, Func<Stream, CancellationToken, Task> writeStdin, CancellationToken ct)
    {
        var stdout = BoundedText.DrainAsync(process.Stdout, CapturedStdoutLimit, ct);
        await using (stdin)
            await writeStdin(stdin, ct);
        var text = await stdout;
        await EnsureSucceededAsync(process, command, ct);
        return text;
    }

    /// <summary>Runs a short command and returns its stdout (up to 1 MiB); retried on transient failures.</summary>
    public Task<string> RunAsync(string command, CancellationToken cancellationToken) =>
        DownloadAsync(command, (stdout, ct) => BoundedText.DrainAsync(stdout, CapturedStdoutLimit, ct), cancellationToken);

    /// <summary>The origin's <c>buildfarm</c> invocation (<see cref="OriginConnectionSettings.RemoteCommand"/>) with quoted arguments.</summary>
    public string BuildfarmCommand(params IEnumerable<string> arguments) => ShellCommand.Join(Settings.RemoteCommand, arguments);

    public ValueTask DisposeAsync() => Pool.DisposeAsync();

    private async Task EnsureSucceededAsync(RemoteProcess process, string command, CancellationToken cancellationToken)
    {
        var exit = await process.WaitForExitAsync(cancellationToken);
        if (!exit.Succeeded)
            throw new RemoteCommandFailedException(Settings.Name, command, exit);
    }
}
