using System.Collections.Concurrent;
using BuildFarm.Store.Quarantine;
using BuildFarm.Store.Streams;
using BuildFarm.Transfer.Errors;
using BuildFarm.Transfer.Exec;
using BuildFarm.Transfer.Origins;

namespace BuildFarm.Worker.Origins;

/// <summary>
/// Long-lived <c>store quarantine-serve</c> processes on one origin, each carrying uploads one after another
/// (<see cref="QuarantineProtocol"/>): returning a build's outputs then costs no exec, login shell or process start
/// on the origin. Idle processes are kept up to a small bound; a process that failed in any way is never reused.
/// </summary>
/// <remarks>
/// Delivery: an upload counts only once the origin answered <c>ok</c> (file complete and fsynced). A pooled process
/// found dead (its channel or the origin's sshd went away while idle) fails as <see cref="ChannelLostException"/>,
/// which the client's retry policy treats as transient: the retry rewrites the whole file on a fresh process.
/// An origin too old to know quarantine-serve marks the pool <see cref="Unsupported"/>; callers then use
/// quarantine-put per upload.
/// </remarks>
internal sealed class QuarantineServePool(OriginClient client, QuarantineServePool.Settings settings) : IAsyncDisposable
{
    /// <summary>How long a failing process gets to say why (its error reply, then its exit).</summary>
    private static readonly TimeSpan FailureWait = TimeSpan.FromSeconds(5);
    private readonly ConcurrentQueue<(ServeProcess Process, long IdleSince)> _idle = new();
    private readonly CancellationTokenSource _lifetime = new();
    private readonly int _maxIdle = Math.Clamp(client.Settings.MaxConnections * client.Settings.ChannelsPerConnection / 4, 1, 4);
    private int _unsupported;

    public bool Unsupported => Volatile.Read(ref _unsupported) != 0;

    /// <summary>How long one upload may make no progress (<c>Origins:UploadStallTimeout</c>).</summary>
    public TimeSpan StallTimeout => settings.StallTimeout;

    /// <summary>
    /// Sends one upload and returns the bytes the origin stored. Each write of <paramref name="writeBody"/> becomes
    /// one or more chunks as it comes: the writer buffers (the uploader writes through a 64 KiB buffer).
    /// </summary>
    public Task<long> UploadAsync(Guid buildId, int attempt, Func<Stream, CancellationToken, Task> writeBody, CancellationToken cancellationToken) =>
        client.Resilience.ExecuteAsync(
            async ct =>
            {
                var (serve, fresh) = await TakeIdle() is { } idle ? (idle, false) : (await StartAsync(), true);
                var reusable = false;
                try
                {
                    var bytes = await serve.UploadAsync(buildId, attempt, writeBody, settings, ct);
                    reusable = true;
                    return bytes;
                }
                catch (RemoteCommandFailedException e) when (fresh && e.Exit.Stderr.Contains("quarantine-serve", StringComparison.Ordinal))
                {
                    // "Unrecognized command or argument 'quarantine-serve'": an older buildfarm on the origin.
                    Interlocked.Exchange(ref _unsupported, 1);
                    throw;
                }
                finally
                {
                    if (reusable && !serve.Stalled && settings.KeepIdle > TimeSpan.Zero && _idle.Count < _maxIdle && !_lifetime.IsCancellationRequested)
                        _idle.Enqueue((serve, settings.Time.GetTimestamp()));
                    else if (serve.Stalled)
                        _ = Task.Run(() => serve.DisposeAsync().AsTask(), CancellationToken.None); // may wait on the dead link: not the caller's time
                    else
                        await serve.DisposeAsync();
                }
            },
            cancellationToken);

    public async ValueTask DisposeAsync()
    {
        await _lifetime.CancelAsync();
        while (_idle.TryDequeue(out var idle))
            await idle.Process.DisposeAsync();
        _lifetime.Dispose();
    }

    /// <summary>An idle process younger than KeepIdle; older ones are closed on the way.</summary>
    private async Task<ServeProcess?> TakeIdle()
    {
        while (_idle.TryDequeue(out var idle))
        {
            if (settings.Time.GetElapsedTime(idle.IdleSince) <= settings.KeepIdle)
                return idle.Process;
            await idle.Process.DisposeAsync();
        }

        return null;
    }

    private async Task<ServeProcess> StartAsync()
    {
        // The process lives as long as the pool, not as the upload that started it (an upload's cancellation kills
        // the process it runs on, see ServeProcess).
        var command = client.BuildfarmCommand(["store", "quarantine-serve"]);
        var process = await client.StartAsync(command, _lifetime.Token);
        return new ServeProcess(client.Settings.Name, command, process);
    }

    /// <summary>One remote quarantine-serve: its stdin held open between uploads, replies read line by line.</summary>
    private sealed class ServeProcess(string origin, string command, RemoteProcess process) : IAsyncDisposable
    {
        private readonly ChannelWriter _channel = new(process.OpenStdin());
        private BufferedStream? _stdin;

        /// <summary>An upload on it was given up for lack of progress: never reused, its stdin not flushed on dispose.</summary>
        public bool Stalled { get; private set; }

        /// <summary>
        /// One upload, bounded by <see cref="Settings.StallTimeout"/> of no progress (<see cref="UploadStallGuard"/>):
        /// progress is a byte the channel took, and after the last one the origin's answer.
        /// </summary>
        public async Task<long> UploadAsync(Guid buildId, int attempt, Func<Stream, CancellationToken, Task> writeBody, Settings settings, CancellationToken cancellationToken)
        {
            using var guard = new UploadStallGuard(settings.StallTimeout, () => _channel.Written, () =>
            {
                Stalled = true;
                process.Abort();
            }, settings.Time);
            return await guard.RunAsync(origin, command, ct => UploadCoreAsync(buildId, attempt, writeBody, ct), cancellationToken);
        }

        private async Task<long> UploadCoreAsync(Guid buildId, int attempt, Func<Stream, CancellationToken, Task> writeBody, CancellationToken cancellationToken)
        {
            _stdin ??= new BufferedStream(_channel, 1 << 16);
            using var abort = cancellationToken.Register(process.Cancel);
            string? reply;
            try
            {
                await _stdin.WriteAsync(QuarantineProtocol.PutLine(buildId, attempt), cancellationToken);
                var body = new ChunkedWriteStream(_stdin);
                await writeBody(body, cancellationToken);
                await body.CompleteAsync(cancellationToken);
                reply = await QuarantineProtocol.ReadLineAsync(process.Stdout, cancellationToken);
            }
            catch (Exception e) when (e is not OperationCanceledException && (_channel.Failed || e is ChannelLostException or QuarantineProtocolException))
            {
                // The channel, not our archive, failed: the origin's reply or exit says why.
                throw await FailureAsync(e, cancellationToken);
            }

            if (reply is null)
                throw await FailureAsync(null, cancellationToken);
            return QuarantineProtocol.ParseReply(reply);
        }

        public async ValueTask DisposeAsync()
        {
            try
            {
                // A stalled channel's stdin would block the flush: the process is killed and the channel closed instead.
                if (_stdin is not null && !Stalled)
                    await _stdin.DisposeAsync();
                if (!Stalled)
                    await _channel.DisposeAsync();
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException or Renci.SshNet.Common.SshException)
            {
                // Closing stdin of a dead channel: nothing left to tell it.
            }

            await process.DisposeAsync();
        }

        /// <summary>
        /// Why the process stopped answering: its <c>error</c> reply if it sent one (not retried), its non-zero exit
        /// and stderr when it ended (not retried), otherwise a lost channel (retried on a fresh process).
        /// </summary>
        private async Task<Exception> FailureAsync(Exception? cause, CancellationToken cancellationToken)
        {
            if (cause is not QuarantineProtocolException)
            {
                using var brief = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                brief.CancelAfter(FailureWait);
                try
                {
                    if (await QuarantineProtocol.ReadLineAsync(process.Stdout, brief.Token) is { } line && line.StartsWith("error ", StringComparison.Ordinal))
                        return new QuarantineRefusedException(line[6..]);
                }
                catch (Exception e) when (e is OperationCanceledException or IOException or ObjectDisposedException or QuarantineProtocolException)
                {
                }
            }

            if (await process.TryFailedExitAsync(FailureWait, cancellationToken) is { } exit)
                return new RemoteCommandFailedException(origin, command, exit, cause);
            return cause as ChannelLostException ?? new ChannelLostException(origin, command, 0, cause);
        }
    }

    /// <summary>The channel's stdin, remembering whether a write to it failed (as opposed to the archive writer).</summary>
    private sealed class ChannelWriter(Stream inner) : WriteOnlyStream
    {
        private long _written;

        public bool Failed { get; private set; }

        /// <summary>Bytes the channel took so far (the upload's progress).</summary>
        public long Written => Interlocked.Read(ref _written);

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            try
            {
                await inner.WriteAsync(buffer, cancellationToken);
                Interlocked.Add(ref _written, buffer.Length);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                Failed = true;
                throw;
            }
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
                inner.Dispose();
            base.Dispose(disposing);
        }
    }

    /// <summary>
    /// How long an idle process is kept (0 = none), the clock that says so, and how long one upload may make no
    /// progress before it is given up (<c>Origins:UploadStallTimeout</c>).
    /// </summary>
    public sealed record Settings(TimeSpan KeepIdle, TimeProvider Time, TimeSpan StallTimeout);
}
