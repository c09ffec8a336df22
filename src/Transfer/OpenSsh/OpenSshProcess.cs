using System.Diagnostics;
using BuildFarm.Store.Streams;
using BuildFarm.Transfer.Connections;
using BuildFarm.Transfer.Errors;
using BuildFarm.Transfer.Exec;

namespace BuildFarm.Transfer.OpenSsh;

/// <summary>
/// A command on the origin as one multiplexed session of an <see cref="OpenSshMaster"/>: a local <c>ssh</c> whose
/// pipes the master reads and writes directly. Cancelling kills that ssh (and anything under it); the master then
/// closes the session, and the remote command ends on its closed pipes (no SIGKILL request: the client has no way to
/// send one through a master).
/// </summary>
/// <remarks>
/// Memory: stdout is a kernel pipe behind the SSH window (OpenSSH: 2 MiB per session), so an origin can run at most
/// that far ahead of the reader: TCP backpressure, nothing piles up in this process. Exit: ssh reports a remote
/// command killed by a signal as exit code 255 (no signal name), where SSH.NET reports the signal.
/// </remarks>
internal sealed class OpenSshProcess : RemoteProcess
{
    private const int StderrLimit = 64 * 1024;
    private const int RemoteOrSshFailure = 255;

    private readonly ChannelLease _lease;
    private readonly OpenSshMaster _master;
    private readonly Process _process;
    private readonly string _log;
    private readonly Task<string> _stderr;
    private readonly Task _exited;
    private readonly OutputStream _stdout;
    private readonly CancellationTokenSource _killed = new();
    private readonly CancellationTokenRegistration _cancellation;
    private Task<Exception?>? _outcome;
    private int _cancelled;
    private int _disposed;

    private OpenSshProcess(string origin, string command, ChannelLease lease, OpenSshMaster master, Process process, string log, CancellationToken lifetime)
        : base(origin, command)
    {
        _lease = lease;
        _master = master;
        _process = process;
        _log = log;
        _exited = process.WaitForExitAsync(CancellationToken.None);
        GrowPipe(process.StandardOutput.BaseStream);
        _stdout = new OutputStream(this, process.StandardOutput.BaseStream);
        _stderr = BoundedText.DrainAsync(process.StandardError.BaseStream, StderrLimit, CancellationToken.None);
        _cancellation = lifetime.Register(static p => ((OpenSshProcess)p!).Cancel(), this);
    }

    public override int ConnectionId => _lease.ConnectionId;

    public override Stream Stdout => _stdout;

    public override long PeakBufferedBytes => 0;

    private bool IsCancelled => Volatile.Read(ref _cancelled) != 0;

    /// <summary>Starts <paramref name="command"/> through <paramref name="master"/>. Takes ownership of the lease.</summary>
    public static OpenSshProcess Start(string origin, ChannelLease lease, OpenSshMaster master, string command, CancellationToken lifetime)
    {
        try
        {
            lifetime.ThrowIfCancellationRequested();
            var log = master.Opener.NextLogPath();
            var psi = new ProcessStartInfo("ssh") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
            // ControlMaster=no and ProxyCommand=/bin/false: when the master is gone this ssh fails, it never
            // connects (and logs in) by itself.
            foreach (var arg in (string[])["-T", "-o", "ControlMaster=no", "-o", "ProxyCommand=/bin/false"])
                psi.ArgumentList.Add(arg);
            foreach (var arg in master.Opener.CommonArguments(master.KnownHosts, master.Socket, log))
                psi.ArgumentList.Add(arg);
            psi.ArgumentList.Add("--");
            psi.ArgumentList.Add(master.Opener.Settings.Host);
            psi.ArgumentList.Add(command);
            var process = Process.Start(psi) ?? throw new InvalidOperationException("could not start ssh");
            return new OpenSshProcess(origin, command, lease, master, process, log, lifetime);
        }
        catch
        {
            lease.Dispose();
            throw;
        }
    }

    public override Stream OpenStdin() => new InputStream(_process.StandardInput.BaseStream);

    public override async Task<RemoteExit> WaitForExitAsync(CancellationToken cancellationToken)
    {
        await ObserveEndAsync(cancellationToken);
        var stderr = await _stderr.WaitAsync(cancellationToken);
        return new RemoteExit(_process.ExitCode, null, stderr);
    }

    public override void Cancel()
    {
        if (Interlocked.Exchange(ref _cancelled, 1) != 0)
            return;
        try
        {
            _killed.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // Disposed already: nothing is reading.
        }

        OpenSshOpener.Kill(_process);
    }

    public override void Abort()
    {
        _lease.MarkBroken();
        Cancel();
    }

    /// <summary>
    /// Waits for ssh to end and throws when that was not the remote command's own end: cancelled, or the connection
    /// lost. ssh exits 255 both for its own failures and for a remote exit 255 or signal; its own are in its log, or
    /// its master died under it.
    /// </summary>
    private async Task ObserveEndAsync(CancellationToken cancellationToken)
    {
        await _exited.WaitAsync(cancellationToken);
        if (IsCancelled)
            throw new OperationCanceledException($"'{CommandText}' on {Origin} was cancelled");
        if (await (_outcome ??= ClassifyAsync()) is { } failure)
            throw failure;
    }

    private async Task<Exception?> ClassifyAsync()
    {
        if (_process.ExitCode != RemoteOrSshFailure)
            return null;
        var log = SshLog.Read(_log);
        if (log.Length == 0 && !await _master.HasEndedWithinAsync(TimeSpan.FromMilliseconds(500)))
            return null;
        _lease.MarkBroken();
        var why = log.Length > 0 ? log : _master.ReadLog() is { Length: > 0 } master ? master : "its OpenSSH master ended";
        return new ChannelLostException(Origin, CommandText, _stdout.BytesRead, new IOException(why));
    }

    public override async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        if (!_process.HasExited)
            Cancel();
        await _cancellation.DisposeAsync();
        try
        {
            await _exited.WaitAsync(TimeSpan.FromSeconds(5));
            if (!IsCancelled)
                await (_outcome ??= ClassifyAsync());
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Outcome already reported to whoever awaited it; here we only clean up.
        }

        _process.Dispose();
        _killed.Dispose();
        try
        {
            File.Delete(_log);
        }
        catch (IOException)
        {
            // Removed with the state directory.
        }

        _lease.Dispose();
    }

    /// <summary>
    /// Gives ssh's stdout a 1 MiB pipe (Linux's default limit for <c>F_SETPIPE_SZ</c>; 64 KiB otherwise): the master
    /// writes into the pipe instead of queueing in its channel buffer, whose growth cost it page faults and copies
    /// (perf of a pull: a fifth of the master's CPU in page faults under memmove) whenever the import fell behind for a
    /// moment. Best effort: a refusal leaves the default.
    /// </summary>
    private static void GrowPipe(Stream stdout)
    {
        if (stdout is System.IO.Pipes.PipeStream pipe)
            _ = SetPipeSize(pipe.SafePipeHandle, SetPipeSizeCommand, PipeSize);
    }

    private const int SetPipeSizeCommand = 1031; // F_SETPIPE_SZ
    private const int PipeSize = 1 << 20;

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    [System.Runtime.InteropServices.DefaultDllImportSearchPaths(System.Runtime.InteropServices.DllImportSearchPath.SafeDirectories)]
    private static extern int SetPipeSize(System.Runtime.InteropServices.SafeHandle fd, int command, int size);

    /// <summary>ssh's stdout; at its end, how ssh ended decides between end of output, lost connection and cancellation.</summary>
    private sealed class OutputStream(OpenSshProcess process, Stream pipe) : ReadOnlyStream
    {
        private long _read;

        public long BytesRead => Interlocked.Read(ref _read);

        public override long Position
        {
            get => BytesRead;
            set => throw new NotSupportedException();
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            var n = pipe.Read(buffer);
            if (n == 0 && buffer.Length > 0)
                process.ObserveEndAsync(CancellationToken.None).GetAwaiter().GetResult();
            Interlocked.Add(ref _read, n);
            return n;
        }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            int n;
            using (var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, process._killed.Token))
            {
                try
                {
                    n = await pipe.ReadAsync(buffer, linked.Token);
                }
                catch (OperationCanceledException) when (process.IsCancelled && !cancellationToken.IsCancellationRequested)
                {
                    throw new OperationCanceledException($"'{process.CommandText}' on {process.Origin} was cancelled");
                }
            }

            if (n == 0 && buffer.Length > 0)
                await process.ObserveEndAsync(cancellationToken);
            Interlocked.Add(ref _read, n);
            return n;
        }
    }

    /// <summary>ssh's stdin, counting the bytes the pipe took (upload progress). Dispose closes it: end of file for the command.</summary>
    private sealed class InputStream(Stream pipe) : WriteOnlyStream
    {
        private long _written;

        public override long Position
        {
            get => Interlocked.Read(ref _written);
            set => throw new NotSupportedException();
        }

        public override void Write(byte[] buffer, int offset, int count)
        {
            pipe.Write(buffer, offset, count);
            Interlocked.Add(ref _written, count);
        }

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            await pipe.WriteAsync(buffer, cancellationToken);
            Interlocked.Add(ref _written, buffer.Length);
        }

        public override Task FlushAsync(CancellationToken cancellationToken) => pipe.FlushAsync(cancellationToken);

        protected override void Dispose(bool disposing)
        {
            if (disposing)
                pipe.Dispose();
            base.Dispose(disposing);
        }
    }
}
