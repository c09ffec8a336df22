using BuildFarm.Transfer.Connections;
using BuildFarm.Transfer.Errors;
using Renci.SshNet;
using Renci.SshNet.Common;

namespace BuildFarm.Transfer.Exec;

/// <summary>
/// A command running on the origin over one SSH.NET exec channel of a pooled connection. Cancelling the token given
/// at start, or disposing, kills the remote command (SIGKILL request) and closes the channel; the connection stays in
/// the pool unless it failed.
/// </summary>
/// <remarks>
/// Memory: SSH.NET grants the server more window as soon as data arrives, not when it is read, so there is no
/// per-channel backpressure: data the caller has not read yet waits in memory. Memory stays bounded only as long as
/// the reader keeps up with the network (hashing or writing to a local disk does). <see cref="PeakBufferedBytes"/>
/// reports the largest backlog seen. It does not always keep up: a 512 MiB input pull on a loaded 2-core machine
/// peaked at 300–340 MB of worker RSS (bench/pull).
/// </remarks>
internal sealed class SshNetProcess : RemoteProcess
{
    private const int StderrLimit = 64 * 1024;

    private readonly ChannelLease _lease;
    private readonly SshClient _client;
    private readonly SshCommand _command;
    private readonly Task _execution;
    private readonly Task<string> _stderr;
    private readonly CancellationTokenRegistration _cancellation;
    private readonly ExecOutputStream _stdout;
    private int _cancelled;
    private int _disposed;

    private SshNetProcess(string origin, string commandText, ChannelLease lease, SshClient client, SshCommand command, Task execution, CancellationToken lifetime)
        : base(origin, commandText)
    {
        _client = client;
        _lease = lease;
        _command = command;
        _execution = execution;
        _stdout = new ExecOutputStream(this, command.OutputStream);
        _stderr = BoundedText.DrainAsync(command.ExtendedOutputStream, StderrLimit, CancellationToken.None);
        _cancellation = lifetime.Register(static p => ((SshNetProcess)p!).Cancel(), this);
    }

    public override int ConnectionId => _lease.ConnectionId;

    public override Stream Stdout => _stdout;

    /// <summary>Largest amount of stdout received but not yet read by the caller, sampled at each read.</summary>
    public override long PeakBufferedBytes => _stdout.PeakBuffered;

    internal bool IsCancelled => Volatile.Read(ref _cancelled) != 0;

    internal Task Execution => _execution;

    /// <summary>Opens the channel on <paramref name="lease"/> and starts <paramref name="commandText"/>. Takes ownership of the lease.</summary>
    internal static async Task<RemoteProcess> StartAsync(string origin, ChannelLease lease, SshClient client, string commandText, CancellationToken lifetime)
    {
        SshCommand? command = null;
        try
        {
            lifetime.ThrowIfCancellationRequested();
            command = client.CreateCommand(commandText);
            // ExecuteAsync opens the channel and sends the exec request synchronously (two round trips): keep that
            // off the caller's thread. It returns the task of the command's whole run.
            var started = command;
            Task execution = await Task.Factory.StartNew(
                () => started.ExecuteAsync(CancellationToken.None),
                CancellationToken.None,
                TaskCreationOptions.DenyChildAttach,
                TaskScheduler.Default);
            return new SshNetProcess(origin, commandText, lease, client, command, execution, lifetime);
        }
        catch (Exception e)
        {
            if (e is SshConnectionException || !client.IsConnected)
                lease.MarkBroken();
            command?.Dispose();
            lease.Dispose();
            throw;
        }
    }

    public override Stream OpenStdin() => new ExecInputStream(_command);

    public override async Task<RemoteExit> WaitForExitAsync(CancellationToken cancellationToken)
    {
        await ObserveExecutionAsync(bytesRead: _stdout.BytesRead, cancellationToken);
        var stderr = await _stderr.WaitAsync(cancellationToken);
        return new RemoteExit(_command.ExitStatus, _command.ExitSignal, stderr);
    }

    public override void Cancel()
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

    /// <remarks>The kill is sent from the thread pool: on a blackholed link even sending it may block.</remarks>
    public override void Abort()
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

    public override async ValueTask DisposeAsync()
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

        if (!_client.IsConnected || (_execution.IsFaulted && _execution.Exception?.InnerException is SshConnectionException))
            _lease.MarkBroken();
        _command.Dispose();
        _lease.Dispose();
    }
}
