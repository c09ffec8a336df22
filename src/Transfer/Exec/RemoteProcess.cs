namespace BuildFarm.Transfer.Exec;

/// <summary>
/// A command running on the origin over one channel of a pooled connection (SSH.NET's exec channel or an OpenSSH
/// multiplexed session, <see cref="Origins.OriginTransport"/>). <see cref="Stdout"/> is read incrementally as data
/// arrives; stdin is fed with <see cref="OpenStdin"/> or <see cref="WriteStdinAsync"/>. Cancelling the token given at
/// start, or disposing, kills the command and closes its channel; the connection stays in the pool unless it failed.
/// </summary>
public abstract class RemoteProcess : IAsyncDisposable
{
    private protected RemoteProcess(string origin, string commandText)
    {
        Origin = origin;
        CommandText = commandText;
    }

    public string Origin { get; }

    public string CommandText { get; }

    /// <summary>Which pooled connection runs this command.</summary>
    public abstract int ConnectionId { get; }

    /// <summary>
    /// The command's stdout. Ends when the command ends; throws <see cref="Errors.ChannelLostException"/> if the
    /// connection dropped and <see cref="OperationCanceledException"/> once the command was cancelled, so a truncated
    /// stream never passes for a complete one.
    /// </summary>
    public abstract Stream Stdout { get; }

    /// <summary>Largest amount of stdout received but not yet read by the caller (0 where the kernel and the SSH window bound it).</summary>
    public abstract long PeakBufferedBytes { get; }

    /// <summary>
    /// The command's stdin. Dispose it to send end-of-file. Writes block while the server's window is full, so an
    /// upload never runs ahead of the remote reader. Its <see cref="Stream.Position"/> counts the bytes taken.
    /// </summary>
    public abstract Stream OpenStdin();

    /// <summary>Copies <paramref name="source"/> to the command's stdin, then sends end-of-file.</summary>
    public async Task WriteStdinAsync(Stream source, CancellationToken cancellationToken)
    {
        await using var stdin = OpenStdin();
        await source.CopyToAsync(stdin, 64 * 1024, cancellationToken);
    }

    /// <summary>Waits for the command to end (stdout need not be read first: unread output stays buffered).</summary>
    public abstract Task<RemoteExit> WaitForExitAsync(CancellationToken cancellationToken);

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

    /// <summary>Kills the command and closes its channel. Readers of <see cref="Stdout"/> get an <see cref="OperationCanceledException"/>.</summary>
    public abstract void Cancel();

    /// <summary>
    /// Gives up on the command because its origin stopped answering (a stalled upload): its connection is marked
    /// broken (never handed out again, closed once its last channel is released) and the command is killed without
    /// waiting on the link. Dispose as usual afterwards.
    /// </summary>
    public abstract void Abort();

    public abstract ValueTask DisposeAsync();
}
