using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace BuildFarm.Store.Local;

/// <summary>
/// Writes and flushes restored files on background threads while their restore goes on with the next ones: a small
/// file is written by the restore itself and handed over complete (<see cref="AddAsync"/>), a large one is handed over
/// chunk by chunk (<see cref="OpenLarge"/>). <see cref="FlushAsync"/> returns once every file handed over is written,
/// on disk and closed (or throws if one could not be), so a store commit can skip its own flush pass for that content:
/// durability before the rename is kept, while the disk's write-back overlaps the transfer instead of following it.
/// </summary>
/// <remarks>
/// Several threads fsync at once: the kernel merges their device flushes, so on this project's machine 8 concurrent
/// fsyncs of small files took 0.11 ms per file where one at a time took 2.2 ms (each waits for a flush of its own).
/// The threads wait on the disk, not on the CPU, and start with the files (one per file handed over, up to 8), so a
/// small import starts one. The queue is bounded and so are the chunks in flight (<see cref="Chunks"/> of
/// <see cref="ChunkSize"/>): when the disk falls behind, handing over waits, so memory and open files stay bounded.
/// Disposing without <see cref="FlushAsync"/> (the restore failed) closes the remaining files without writing or
/// flushing them.
/// <para>
/// A large file's chunks are written with <c>O_DIRECT</c> where the file system takes it: straight from the chunk to
/// the disk, not copied into the page cache first. On this project's machine (a VM) filling fresh page-cache pages
/// was the largest cost of an import, 0.8–1 s of system time per 512 MiB, against 0.1 s direct (<c>dd</c>; perf of a
/// pull: a third of the importer's CPU in <c>copy_folio_from_iter_atomic</c> under <c>pwrite64</c>). The flush
/// before the commit is the same either way (the data must reach the disk before the path is valid). What changes
/// is that the content is not in the page cache afterwards: its first reader (a build using the input) reads it from
/// disk. <c>BUILDFARM_RESTORE_DIRECT=0</c> writes the chunks through the page cache (still on these threads).
/// </para>
/// </remarks>
internal sealed class FileSyncer : IAsyncDisposable
{
    /// <summary>The largest piece of a large file handed over at once (the NAR parser's read size).</summary>
    public const int ChunkSize = 1 << 20;

    /// <summary>Files at least this long are written on the syncer's threads.</summary>
    public const long LargeFileMinLength = ChunkSize;

    /// <summary>Chunks in flight: what the restore may be ahead of the disk (8 MiB).</summary>
    private const int Chunks = 8;

    /// <summary>Memory, file offsets and lengths of <c>O_DIRECT</c> writes are multiples of this (the logical block size of every common disk divides it).</summary>
    private const int Alignment = 4096;

    private const int MaxPending = 256;
    private const int Threads = 8;
    private const int EInval = 22;

    private static readonly bool DirectEnabled = Environment.GetEnvironmentVariable("BUILDFARM_RESTORE_DIRECT") != "0";

    // The queue: the restore waits for space asynchronously; the threads block in Monitor.Wait, which sleeps at once.
    // (A Channel's reader blocked on with GetResult spun first: 23 000 sched_yield calls in one 512 MiB import, CPU
    // taken from the restore on 2 cores.)
    private readonly Queue<Job> _jobs = new();
    private readonly SemaphoreSlim _space = new(MaxPending);
    private bool _closed;

    private readonly SemaphoreSlim _freeChunks = new(Chunks);
    private readonly ConcurrentBag<Chunk> _chunks = [];

    // Started and awaited by the single writer (the restore), so not shared between threads.
    private readonly List<Task> _workers = [];
    private volatile bool _abandoned;
    private Exception? _failure;

    /// <param name="largeFilesInBackground">
    /// False: every file is written by the restore itself (an import that reads restored files back before it
    /// commits, the fixed-output check, needs them written when the NAR ends).
    /// </param>
    public FileSyncer(bool largeFilesInBackground = true) => LargeFilesInBackground = largeFilesInBackground;

    public bool LargeFilesInBackground { get; }

    /// <summary>Takes ownership of <paramref name="file"/>, completely written: it is flushed and closed in the background.</summary>
    public async ValueTask AddAsync(SafeFileHandle file, CancellationToken cancellationToken)
    {
        try
        {
            await EnqueueAsync(new Job(file, null, null, 0, 0), cancellationToken);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Takes ownership of <paramref name="file"/>, empty, to be written in chunks (<see cref="RentAsync"/>,
    /// <see cref="WriteAsync"/>), then given <paramref name="timesSeconds"/> as its times, flushed and closed once
    /// <see cref="CompleteAsync"/> was called and every chunk is written.
    /// </summary>
    public LargeFile OpenLarge(SafeFileHandle file, long timesSeconds)
    {
        try
        {
            ThrowIfFailed();
        }
        catch
        {
            file.Dispose();
            throw;
        }

        return new(file, timesSeconds, DirectEnabled && RestoreCalls.TrySetDirect(file, direct: true));
    }

    /// <summary>A chunk to fill; waits while <see cref="Chunks"/> are in flight.</summary>
    public async ValueTask<Chunk> RentAsync(CancellationToken cancellationToken)
    {
        ThrowIfFailed();
        await _freeChunks.WaitAsync(cancellationToken);
        return _chunks.TryTake(out var chunk) ? chunk : Chunk.Allocate();
    }

    /// <summary>Gives back a chunk that will not be written.</summary>
    public void Return(Chunk chunk)
    {
        _chunks.Add(chunk);
        _freeChunks.Release();
    }

    /// <summary>Writes the first <paramref name="length"/> bytes of <paramref name="chunk"/> (which it takes back) next in <paramref name="file"/>.</summary>
    public async ValueTask WriteAsync(LargeFile file, Chunk chunk, int length, CancellationToken cancellationToken)
    {
        var offset = file.Reserve(length);
        if (file.Direct && length % Alignment != 0)
        {
            // Only a file's last chunk can be short. Its unaligned end is written through the page cache when the file
            // is finished (O_DIRECT takes whole blocks only).
            var aligned = length & ~(Alignment - 1);
            file.SetTail(chunk.Memory.Span[aligned..length].ToArray(), offset + aligned);
            length = aligned;
        }

        if (length == 0 || _failure is not null)
        {
            Return(chunk);
            ThrowIfFailed();
            return;
        }

        file.AddReference();
        try
        {
            await EnqueueAsync(new Job(null, file, chunk, offset, length), cancellationToken);
        }
        catch
        {
            Return(chunk);
            Release(file);
            throw;
        }
    }

    /// <summary>Every chunk of <paramref name="file"/> was handed over: it is finished once they are written.</summary>
    public async ValueTask CompleteAsync(LargeFile file, CancellationToken cancellationToken)
    {
        file.Completed = true;
        if (!file.ReleaseReference())
            return;
        try
        {
            await EnqueueAsync(new Job(null, file, null, 0, 0), cancellationToken);
        }
        catch
        {
            file.Handle.Dispose();
            throw;
        }
    }

    /// <summary>The restore gives up <paramref name="file"/> (its restore failed): it is closed once no chunk of it is in flight.</summary>
    public void Abandon(LargeFile file)
    {
        if (!file.Completed)
            Release(file);
    }

    /// <summary>Waits until every file handed over is written, flushed and closed; throws the first error.</summary>
    public async Task FlushAsync(CancellationToken cancellationToken)
    {
        Close();
        await Task.WhenAll(_workers).WaitAsync(cancellationToken);
        ThrowIfFailed();
    }

    public async ValueTask DisposeAsync()
    {
        _abandoned = true;
        Close();
        await Task.WhenAll(_workers);
    }

    private void ThrowIfFailed()
    {
        if (Volatile.Read(ref _failure) is { } failure)
            throw new IOException($"flushing restored files to disk failed: {failure.Message}", failure);
    }

    private async ValueTask EnqueueAsync(Job job, CancellationToken cancellationToken)
    {
        if (_workers.Count < Threads)
            _workers.Add(Task.Factory.StartNew(Run, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default));
        await _space.WaitAsync(cancellationToken);
        lock (_jobs)
        {
            _jobs.Enqueue(job);
            Monitor.Pulse(_jobs);
        }
    }

    private void Close()
    {
        lock (_jobs)
        {
            _closed = true;
            Monitor.PulseAll(_jobs);
        }
    }

    /// <summary>The next job, or false once the queue is closed and empty.</summary>
    private bool Take(out Job job)
    {
        lock (_jobs)
        {
            while (!_jobs.TryDequeue(out job))
            {
                if (_closed)
                    return false;
                Monitor.Wait(_jobs);
            }
        }

        _space.Release();
        return true;
    }

    private void Run()
    {
        while (Take(out var job))
        {
            if (job.Sync is { } handle)
            {
                using (handle)
                {
                    if (Healthy)
                        Check(RestoreCalls.Fsync(handle), "fsync");
                }
            }
            else if (job.Chunk is { } chunk)
            {
                if (Healthy)
                    WriteChunk(job.File!, chunk.Memory.Span[..job.Length], job.Offset);
                Return(chunk);
                Release(job.File!);
            }
            else
            {
                Finish(job.File!);
            }
        }
    }

    private bool Healthy => Volatile.Read(ref _failure) is null && !_abandoned;

    private void WriteChunk(LargeFile file, ReadOnlySpan<byte> data, long offset)
    {
        var errno = RestoreCalls.TryWrite(file.Handle, data, offset);
        if (errno == EInval && file.Direct)
        {
            // The file system wants a coarser alignment than ours (or no O_DIRECT after all): through the page cache.
            file.Direct = false;
            RestoreCalls.TrySetDirect(file.Handle, direct: false);
            errno = RestoreCalls.TryWrite(file.Handle, data, offset);
        }

        Check(errno, "write");
    }

    /// <summary>Drops one reference; the last one finishes the file (or, abandoned, just closes it).</summary>
    private void Release(LargeFile file)
    {
        if (file.ReleaseReference())
        {
            if (file.Completed)
                Finish(file);
            else
                file.Handle.Dispose();
        }
    }

    private void Finish(LargeFile file)
    {
        using (file.Handle)
        {
            if (!Healthy)
                return;
            try
            {
                if (file.Tail is { } tail)
                {
                    if (file.Direct)
                        RestoreCalls.TrySetDirect(file.Handle, direct: false);
                    if (!Check(RestoreCalls.TryWrite(file.Handle, tail, file.TailOffset), "write"))
                        return;
                }

                RestoreCalls.SetTimes(file.Handle, file.TimesSeconds);
                Check(RestoreCalls.Fsync(file.Handle), "fsync");
            }
            catch (IOException e)
            {
                Interlocked.CompareExchange(ref _failure, e, null);
            }
        }
    }

    private bool Check(int errno, string call)
    {
        if (errno == 0)
            return true;
        Interlocked.CompareExchange(ref _failure, new IOException($"{call} failed: {RestoreCalls.ErrorText(errno)}"), null);
        return false;
    }

    /// <summary>A fsync of a complete file (<see cref="Sync"/>), a chunk of a large file to write, or a large file to finish.</summary>
    private readonly record struct Job(SafeFileHandle? Sync, LargeFile? File, Chunk? Chunk, long Offset, int Length);

    /// <summary>
    /// <see cref="ChunkSize"/> bytes at an address aligned for <c>O_DIRECT</c>: a pinned array (it never moves) and the
    /// aligned start within it.
    /// </summary>
    internal sealed class Chunk
    {
        private readonly byte[] _array;
        private readonly int _start;

        private Chunk(byte[] array, int start)
        {
            _array = array;
            _start = start;
        }

        public Memory<byte> Memory => _array.AsMemory(_start, ChunkSize);

        public static Chunk Allocate()
        {
            var array = GC.AllocateUninitializedArray<byte>(ChunkSize + Alignment, pinned: true);
            // Dropped with the syncer when an import fails, never handed to anyone else, so a stalled read may be left
            // to complete into it.
            Streams.StallGuardStream.AllowDirectReads(array);
            var address = (long)Marshal.UnsafeAddrOfPinnedArrayElement(array, 0);
            return new Chunk(array, (int)((Alignment - address % Alignment) % Alignment));
        }
    }

    /// <summary>A large file being written by the syncer's threads.</summary>
    internal sealed class LargeFile(SafeFileHandle handle, long timesSeconds, bool direct)
    {
        // One reference for the restore until it completes or abandons the file, one per chunk in flight.
        private int _references = 1;
        private long _next;

        public SafeFileHandle Handle { get; } = handle;

        public long TimesSeconds { get; } = timesSeconds;

        public bool Direct { get; set; } = direct;

        public volatile bool Completed;

        public byte[]? Tail { get; private set; }

        public long TailOffset { get; private set; }

        public long Reserve(int length)
        {
            var offset = _next;
            _next += length;
            return offset;
        }

        public void SetTail(byte[] tail, long offset) => (Tail, TailOffset) = (tail, offset);

        public void AddReference() => Interlocked.Increment(ref _references);

        /// <summary>True for the last reference.</summary>
        public bool ReleaseReference() => Interlocked.Decrement(ref _references) == 0;
    }
}
