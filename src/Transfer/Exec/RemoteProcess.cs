using BuildFarm.Transfer.Connections;
using BuildFarm.Transfer.Errors;
using Renci.SshNet;
using Renci.SshNet.Common;

namespace BuildFarm.Transfer.Exec;

/// <summary>
/// A command running on the origin over one exec channel of a pooled connection. <see cref="Stdout"/> is read
/// incrementally as data arrives; stdin is fed with <see cref="OpenStdin"/> or <see cref="WriteStdinAsync"/>.
/// Cancelling the token given at start, or disposing, kills the remote command (SIGKILL request) and closes the
/// channel; the connection stays in the pool unless it failed.
/// </summary>
/// <remarks>
/// Memory: SSH.NET grants the server more window as soon as data arrives, not when it is read, so there is no
/// per-channel backpressure: data the caller has not read yet waits in memory. Memory stays bounded only as long as
/// the reader keeps up with the network (hashing or writing to a local disk does). <see cref="PeakBufferedBytes"/>
/// reports the largest backlog seen. It does not always keep up: a 512 MiB input pull on a loaded 2-core machine
/// peaked at 300–340 MB of worker RSS (bench/pull).
/// </remarks>
public sealed class RemoteProcess : IAsyncDisposable
{
    private const int StderrLimit = 64 * 1024;

    private readonly ChannelLease _lease;
    private readonly SshCommand _command;
    private readonly Task _execution;
    private readonly Task<string> _stderr;
    private readonly CancellationTokenRegistration _cancellation;
    private readonly ExecOutputStream _stdout;
    private int _cancelled;
    private int _disposed;

    private RemoteProcess(string origin, string commandText, ChannelLease lease, SshCommand command, Task execution, CancellationToken lifetime)
    {
        Origin = origin;
        CommandText = commandText;
        _lease = lease;
        _command = command;
        _execution = execution;
        _stdout = new ExecOutputStream(this, command.OutputStream);
        _stderr = BoundedText.DrainAsync(command.ExtendedOutputStream, StderrLimit, CancellationToken.None);
        _cancellation = lifetime.Register(static p => ((RemoteProcess)p!).Cancel(), this);
    }

    public string Origin { get; }

    public string CommandText { get; }

    /// <summary>Which pooled connection runs this command.</summary>
    public int ConnectionId => _lease.ConnectionId;

    /// <summary>The command's stdout. Ends when the command ends; throws <see cref="ChannelLostException"/> if the connection dropped.</summary>
    public Stream Stdout => _stdout;

    /// <summary>Largest amount of stdout received but not yet read by the caller, sampled at each read.</summary>
    public long PeakBufferedBytes => _stdout.PeakBuffered;

    internal bool IsCancelled => Volatile.Read(ref _cancelled) != 0;

    internal Task Execution => _execution;

    /// <summary>Opens the channel on <paramref name="lease"/> and starts <paramref name="commandText"/>. Takes ownership of the lease.</summary>
    internal static async Task<RemoteProcess> StartAsync(string origin, ChannelLease lease, string commandText, CancellationToken lifetime)
    {
        SshCommand? command = null;
        try
        {
            lifetime.ThrowIfCancellationRequested();
            command = lease.Client.CreateCommand(commandText);
            // ExecuteAsync opens the channel and sends the exec request synchronously (two round trips): keep that
            // off the caller's thread. It returns the task of the command's whole run.
            var started = command;
            Task execution = await Task.Factory.StartNew(
                () => started.ExecuteAsync(CancellationToken.None),
                CancellationToken.None,
                TaskCreationOptions.DenyChildAttach,
                TaskScheduler.Default);
            return new RemoteProcess(origin, commandText, lease, command, execution, lifetime);
        }
        catch (Exception e)
        {
            if (e is SshConnectionException || !lease.Client.IsConnected)
                lease.MarkBroken();
            command?.Dispose();
            lease.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The command's stdin. Dispose it to send end-of-file. Writes block while the server's window is full, so an
    /// upload never runs ahead of the remote reader.
    /// </summary>
    public Stream OpenStdin() => new ExecInputStream(_command);

    /// <summary>Copies <paramref name="source"/> to the command's stdin, then sends end-of-file.</summary>
    public async Task WriteStdinAsync(Stream source, CancellationToken cancellationToken)
    {
        await using var stdin = OpenStdin();
        await source.CopyToAsync(stdin, 64 * 1024, cancellationToken);
    }

    /// <summary>Waits for the command to end (stdout need not be read first: unread output stays buffered).</summary>
    public async Task<RemoteExit> WaitForExitAsync(CancellationToken cancellationToken)
    {
        await ObserveExecutionAsync(bytesRead: _stdout.BytesRead, cancellationToken);
        var stderr = await _stderr.WaitAsync(cancellationToken);
        return new RemoteExit(_command.ExitStatus, _command.ExitSignal, stderr);
    }

    /// <summary>
    /// The command's exit when it ends unsuccessfully within <paramref name="wait"/> (its remaining stdout is
    /// discarded so the exit can arrive); null when it succeeded, is still running or its channel is gone. For
    /// explaining a failure seen elsewhere (a reader that choked, a missing reply) by the command's own exit and stderr.
    /// </summary>
    public async Task<RemoteExit?> TryFailedExitAsync(TimeSpan wait, CancellationToken cancellationToken)
    {
        using var brief = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        brief.CancelAfter(wait);
        try
        {
            await Stdout.CopyToAsync(Stream.Null, brief.Token);
            var exit = await WaitForExitAsync(brief.Token);
            return exit.Succeeded ? null : exit;
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or ObjectDisposedException or InvalidOperationException)
        {
            return null;
        }
    }

    /// <summary>Kills the remote command and closes its channel. Readers of <see cref="Stdout"/> get an <see cref="OperationCanceledException"/>.</summary>
    public void Cancel()
    {
        if (Interlocked.Exchange(ref _cancelled, 1) != 0 || _execution.IsCompleted)
            return;
        Kill();
    }

    private void Kill()
    {
        try
        {
            // Sends "signal KILL" and completes the command at once (timeout 0); Dispose then closes the channel.
            _command.CancelAsync(forceKill: true, millisecondsTimeout: 0);
        }
        catch (Exception e) when (e is SshException or ObjectDisposedException or InvalidOperationException)
        {
            // The channel or session is already gone: nothing left to kill.
        }
    }

    /// <summary>
    /// Gives up on the command because its origin stopped answering (a stalled upload): its connection is marked
    /// broken (never handed out again, closed once its last channel is released) and the kill is sent from the thread
    /// pool, since on a blackholed link even sending it may block. Dispose as usual afterwards.
    /// </summary>
    public void Abort()
    {
        _lease.MarkBroken();
        // Marked cancelled now, so a Cancel from a token callback returns at once instead of sending the kill itself.
        if (Interlocked.Exchange(ref _cancelled, 1) == 0 && !_execution.IsCompleted)
            _ = Task.Run(Kill, CancellationToken.None);
    }

    /// <summary>Translates the end of the SSH command into our errors: lost connection, cancellation.</summary>
    internal async Task ObserveExecutionAsync(long bytesRead, CancellationToken cancellationToken)
    {
        try
        {
            await _execution.WaitAsync(cancellationToken);
        }
        catch (OperationCanceledException) when (IsCancelled && !cancellationToken.IsCancellationRequested)
        {
            throw new OperationCanceledException($"'{CommandText}' on {Origin} was cancelled");
        }
        catch (Exception e) when (e is SshConnectionException or SshException or ObjectDisposedException && !IsCancelled)
        {
            _lease.MarkBroken();
            throw new ChannelLostException(Origin, CommandText, bytesRead, e);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        if (!_execution.IsCompleted)
            Cancel();
        await _cancellation.DisposeAsync();
        try
        {
            await _execution.WaitAsync(TimeSpan.FromSeconds(5));
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Outcome already reported to whoever awaited it; here we only clean up.
        }

        if (!_lease.Client.IsConnected || (_execution.IsFaulted && _execution.Exception?.InnerException is SshConnectionException))
            _lease.MarkBroken();
        _command.Dispose();
        _lease.Dispose();
    }
}
