using System.Reflection;
using Renci.SshNet;
using BuildFarm.Store.Streams;

namespace BuildFarm.Transfer.Exec;

/// <summary>
/// A remote command's stdin. Dispose sends end-of-file. SSH.NET's own input stream sends EOF only when at least one
/// byte was written, which would leave e.g. <c>cat &gt; file</c> waiting forever on an empty upload; for that case
/// this sends the EOF itself through the command's channel.
/// </summary>
internal sealed class ExecInputStream(SshCommand command) : WriteOnlyStream
{
    private readonly Stream _inner = command.CreateInputStream();
    private long _written;

    public override long Position
    {
        get => _written;
        set => throw new NotSupportedException();
    }

    public override void Write(byte[] buffer, int offset, int count)
    {
        _inner.Write(buffer, offset, count);
        _written += count;
    }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        // SendData blocks while the server's window is full: that blocking is our upload backpressure. It ignores
        // tokens, so a cancelled write is abandoned (it ends when the channel or its connection is closed).
        var write = Task.Run(() => _inner.Write(buffer.Span), cancellationToken);
        try
        {
            await write.WaitAsync(cancellationToken);
        }
        catch (OperationCanceledException) when (!write.IsCompleted)
        {
            _ = write.ContinueWith(static t => t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
            throw;
        }

        _written += buffer.Length;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _inner.Dispose();
            if (_written == 0)
                SendEofOnEmptyInput(command);
        }

        base.Dispose(disposing);
    }

    private static void SendEofOnEmptyInput(SshCommand command)
    {
        var channel = typeof(SshCommand).GetField("_channel", BindingFlags.NonPublic | BindingFlags.Instance)?.GetValue(command);
        var isOpen = channel?.GetType().GetProperty("IsOpen")?.GetValue(channel) as bool?;
        if (channel is null || isOpen != true)
            return;
        var sendEof = channel.GetType().GetMethod("SendEof", BindingFlags.Public | BindingFlags.Instance)
            ?? throw new MissingMethodException("SSH.NET channel has no SendEof: cannot close an empty stdin (SSH.NET version changed?)");
        sendEof.Invoke(channel, null);
    }
}
