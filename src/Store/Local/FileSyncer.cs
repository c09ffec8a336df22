using System.Runtime.InteropServices;
using System.Threading.Channels;
using Microsoft.Win32.SafeHandles;

namespace BuildFarm.Store.Local;

/// <summary>
/// Flushes files to disk on background threads while their writer goes on with the next ones: a restore hands
/// over each file as soon as it is complete, and <see cref="FlushAsync"/> returns once every file handed over is on
/// disk (or throws if one could not be flushed). A store commit then skips its own flush pass for that content, so
/// durability before the rename is kept, while the disk's write-back overlaps the transfer instead of following it.
/// </summary>
/// <remarks>
/// Several threads fsync at once: the kernel merges their device flushes, so on this project's machine 8 concurrent
/// fsyncs of small files took 0.11 ms per file where one at a time took 2.2 ms (each waits for a flush of its own).
/// The threads wait on the disk, not on the CPU, and start with the files (one per file handed over, up to 8), so a
/// small import starts one. The queue is bounded: when the disk falls behind, handing over waits, so open files stay
/// few. Disposing without <see cref="FlushAsync"/> (the restore failed) closes the remaining files without flushing.
/// </remarks>
internal sealed class FileSyncer : IAsyncDisposable
{
    private const int MaxPending = 256;
    private const int Threads = 8;

    private readonly Channel<SafeFileHandle> _queue = Channel.CreateBounded<SafeFileHandle>(
        new BoundedChannelOptions(MaxPending) { SingleReader = false, SingleWriter = true, FullMode = BoundedChannelFullMode.Wait });

    // Started and awaited by the single writer (the restore), so not shared between threads.
    private readonly List<Task> _workers = [];
    private volatile bool _abandoned;
    private Exception? _failure;

    /// <summary>Takes ownership of <paramref name="file"/>: it is flushed and closed in the background.</summary>
    public async ValueTask AddAsync(SafeFileHandle file, CancellationToken cancellationToken)
    {
        try
        {
            if (_workers.Count < Threads)
                _workers.Add(Task.Factory.StartNew(Run, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default));
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
        await Task.WhenAll(_workers).WaitAsync(cancellationToken);
        if (_failure is { } failure)
            throw new IOException($"flushing restored files to disk failed: {failure.Message}", failure);
    }

    public async ValueTask DisposeAsync()
    {
        _abandoned = true;
        _queue.Writer.TryComplete();
        await Task.WhenAll(_workers);
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
                    if (Volatile.Read(ref _failure) is null && !_abandoned && Fsync(file) != 0)
                    {
                        var error = new IOException($"fsync failed: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
                        Interlocked.CompareExchange(ref _failure, error, null);
                    }
                }
            }
        }
    }

    [DllImport("libc", EntryPoint = "fsync", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int Fsync(SafeFileHandle fd);
}
