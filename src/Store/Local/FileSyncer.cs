using System.Runtime.InteropServices;
using System.Threading.Channels;
using Microsoft.Win32.SafeHandles;

namespace BuildFarm.Store.Local;

/// <summary>
/// Flushes files to disk on one background thread while their writer goes on with the next ones: a restore hands
/// over each file as soon as it is complete, and <see cref="FlushAsync"/> returns once every file handed over is on
/// disk (or throws if one could not be flushed). A store commit then skips its own flush pass for that content, so
/// durability before the rename is kept, while the disk's write-back overlaps the transfer instead of following it.
/// </summary>
/// <remarks>
/// The queue is bounded: when the disk falls behind, handing over waits, so open files stay few. Disposing without
/// <see cref="FlushAsync"/> (the restore failed) closes the remaining files without flushing them.
/// </remarks>
internal sealed class FileSyncer : IAsyncDisposable
{
    private const int MaxPending = 256;

    private readonly Channel<FileStream> _queue = Channel.CreateBounded<FileStream>(
        new BoundedChannelOptions(MaxPending) { SingleReader = true, SingleWriter = true, FullMode = BoundedChannelFullMode.Wait });

    private readonly Task _worker;
    private volatile bool _abandoned;
    private Exception? _failure;

    public FileSyncer()
    {
        _worker = Task.Factory.StartNew(Run, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
    }

    /// <summary>Takes ownership of <paramref name="file"/>: it is flushed and closed in the background.</summary>
    public async ValueTask AddAsync(FileStream file, CancellationToken cancellationToken)
    {
        try
        {
            await _queue.Writer.WriteAsync(file, cancellationToken);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>Waits until every file handed over is flushed and closed; throws the first flush error.</summary>
    public async Task FlushAsync(CancellationToken cancellationToken)
    {
        _queue.Writer.TryComplete();
        await _worker.WaitAsync(cancellationToken);
        if (_failure is { } failure)
            throw new IOException($"flushing restored files to disk failed: {failure.Message}", failure);
    }

    public async ValueTask DisposeAsync()
    {
        _abandoned = true;
        _queue.Writer.TryComplete();
        await _worker;
    }

    private void Run()
    {
        var reader = _queue.Reader;
        while (reader.WaitToReadAsync().AsTask().GetAwaiter().GetResult())
        {
            while (reader.TryRead(out var file))
            {
                using (file)
                {
                    if (_failure is null && !_abandoned && Fsync(file.SafeFileHandle) != 0)
                        _failure = new IOException($"fsync failed: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
                }
            }
        }
    }

    [DllImport("libc", EntryPoint = "fsync", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int Fsync(SafeFileHandle fd);
}
