using System.Buffers;
using System.Runtime.ExceptionServices;
using System.Security.Cryptography;
using BuildFarm.Store.Hashing;

namespace BuildFarm.Store.Nar;

/// <summary>Receives NAR bytes in order (valid only during the call).</summary>
internal delegate void NarSpanObserver(ReadOnlySpan<byte> bytes);

/// <summary>The NAR hash (<c>nix-hash --type sha256</c>) and NAR size of a path, without keeping the NAR.</summary>
/// <remarks>
/// The NAR is serialised by <see cref="NarSerializer"/> (synchronous: no task per file or token) in chunks hashed on
/// the calling thread while they are still in cache. Once a path has produced <see cref="ReadAheadAfter"/> bytes of
/// NAR and the machine has a second core, hashing moves to a helper thread fed through a small ring of chunks: the
/// calling thread walks the tree and reads files ahead (system calls, copies out of the page cache) while the helper
/// hashes, so the wall time approaches the SHA-256 time alone. Small paths never start the thread.
/// </remarks>
public static class NarHasher
{
    /// <summary>
    /// Chunk hashed at a time. Measured with bench/store-hash (docs/PERFORMANCE.md): hashing each 128 KiB while it
    /// is still in cache costs less CPU than 1 MiB buffers; with the helper thread, 32-64 KiB chunks cost more CPU
    /// (a wake-up per chunk) and 128 KiB-1 MiB were alike.
    /// </summary>
    internal const int ChunkSize = 128 * 1024;

    /// <summary>NAR bytes hashed on the calling thread before the helper thread takes over the hashing.</summary>
    internal const long ReadAheadAfter = 4L << 20;

    /// <summary>Chunks in the ring between reader and hasher (2 MiB: the reader fills one while the hasher works on others).</summary>
    internal const int RingChunks = 16;

    /// <summary>
    /// <c>BUILDFARM_NAR_READAHEAD=0</c> keeps all hashing on the calling thread (one core's worth of CPU, for
    /// comparisons or a machine with no core to spare); read once per process.
    /// </summary>
    private static readonly bool ReadAheadEnabled =
        Environment.ProcessorCount > 1 && Environment.GetEnvironmentVariable("BUILDFARM_NAR_READAHEAD") != "0";

    /// <summary>The SHA-256 NAR hash and NAR size; runs synchronously on the calling thread (plus the helper, see remarks).</summary>
    public static (NixHash Hash, long Size) HashPath(string physicalPath, CancellationToken cancellationToken)
    {
        var (digest, size) = HashPath(physicalPath, HashAlgorithmName.SHA256, cancellationToken);
        return (new NixHash(digest), size);
    }

    /// <summary>The NAR hash in <paramref name="algorithm"/> (fixed-output derivations also use SHA-1 and SHA-512) and the NAR size.</summary>
    public static (byte[] Digest, long Size) HashPath(string physicalPath, HashAlgorithmName algorithm, CancellationToken cancellationToken) =>
        HashPath(physicalPath, algorithm, ReadAheadEnabled ? ReadAheadAfter : long.MaxValue, RingChunks, cancellationToken);

    /// <summary>
    /// <paramref name="readAheadAfter"/>: NAR bytes hashed on the calling thread before the helper thread starts
    /// (<see cref="long.MaxValue"/>: never); <paramref name="ringChunks"/>: chunks between reader and hasher (at least 2).
    /// </summary>
    internal static (byte[] Digest, long Size) HashPath(
        string physicalPath, HashAlgorithmName algorithm, long readAheadAfter, int ringChunks, CancellationToken cancellationToken) =>
        HashPath(physicalPath, algorithm, readAheadAfter, ringChunks, observer: null, cancellationToken);

    /// <summary>
    /// Like <see cref="HashPath(string, HashAlgorithmName, CancellationToken)"/>, and every NAR byte also goes to
    /// <paramref name="observer"/> (in order, on whichever thread hashes; e.g. the output reference scan).
    /// </summary>
    internal static (byte[] Digest, long Size) HashPath(
        string physicalPath, HashAlgorithmName algorithm, NarSpanObserver observer, CancellationToken cancellationToken) =>
        HashPath(physicalPath, algorithm, ReadAheadEnabled ? ReadAheadAfter : long.MaxValue, RingChunks, observer, cancellationToken);

    internal static (byte[] Digest, long Size) HashPath(
        string physicalPath, HashAlgorithmName algorithm, long readAheadAfter, int ringChunks, NarSpanObserver? observer,
        CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        using var hash = IncrementalHash.CreateHash(algorithm);
        using var hasher = new ChunkHasher(hash, observer, readAheadAfter, Math.Max(2, ringChunks));
        var size = NarSerializer.Write(physicalPath, hasher.Rent(), hasher.Take, out var last, out var lastCount, cancellationToken);
        hasher.Finish(last, lastCount);
        return (hash.GetHashAndReset(), size);
    }

    public static Task<(NixHash Hash, long Size)> HashPathAsync(string physicalPath, CancellationToken cancellationToken)
    {
        try
        {
            return Task.FromResult(HashPath(physicalPath, cancellationToken));
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return Task.FromCanceled<(NixHash, long)>(cancellationToken);
        }
        catch (Exception e)
        {
            return Task.FromException<(NixHash, long)>(e);
        }
    }

    /// <summary>
    /// Hashes the chunks the serializer hands off: on the calling thread until <c>readAheadAfter</c> bytes, then on
    /// a helper thread. Hand-off order is hashing order (one producer, one consumer, FIFO).
    /// </summary>
    private sealed class ChunkHasher(IncrementalHash hash, NarSpanObserver? observer, long readAheadAfter, int ringChunks) : IDisposable
    {
        private readonly object _gate = new();
        // Full chunks in hand-off order (a circular buffer) and free chunks (a stack); arrays rather than
        // Queue/Stack of a tuple, which would be JIT-compiled at run time (not in the ReadyToRun image).
        private readonly byte[][] _fullChunks = new byte[ringChunks][];
        private readonly int[] _fullCounts = new int[ringChunks];
        private readonly byte[][] _free = new byte[ringChunks][];
        private int _fullFirst;
        private int _fullCount;
        private int _freeCount;
        private readonly List<byte[]> _rented = [];
        private long _hashedInline;
        private Thread? _thread;
        private bool _done;
        private bool _abandoned;
        private bool _hasherWaiting;
        private bool _readerWaiting;

        // Hysteresis: a side that had to wait sleeps until half the ring is ready for it, so the two threads wake
        // each other once per half ring rather than once per chunk (a futex wake and a context switch each; with
        // one wake-up per 128 KiB the helper hashed slower than the calling thread alone, bench/store-hash).
        private readonly int _half = Math.Max(1, ringChunks / 2);
        private Exception? _failure;

        public byte[] Rent()
        {
            var chunk = ArrayPool<byte>.Shared.Rent(ChunkSize);
            _rented.Add(chunk);
            return chunk;
        }

        public byte[] Take(byte[] chunk, int count)
        {
            if (_thread is null)
            {
                if (_hashedInline < readAheadAfter)
                {
                    Consume(chunk, count);
                    _hashedInline += count;
                    return chunk;
                }

                Start();
            }

            lock (_gate)
            {
                Enqueue(chunk, count);
                if (_hasherWaiting && _fullCount >= _half)
                    Monitor.Pulse(_gate);
                if (_freeCount == 0)
                {
                    while (_freeCount < _half && _failure is null)
                    {
                        _readerWaiting = true;
                        Monitor.Wait(_gate);
                        _readerWaiting = false;
                    }
                }

                if (_failure is not null)
                    ExceptionDispatchInfo.Throw(_failure);
                return _free[--_freeCount];
            }
        }

        /// <summary>Hashes the last partial chunk after everything handed off before it, and waits for the helper.</summary>
        public void Finish(byte[] chunk, int count)
        {
            if (_thread is null)
            {
                Consume(chunk, count);
                return;
            }

            lock (_gate)
            {
                Enqueue(chunk, count);
                _done = true;
                Monitor.Pulse(_gate);
            }

            _thread.Join();
            if (_failure is not null)
                ExceptionDispatchInfo.Throw(_failure);
        }

        public void Dispose()
        {
            if (_thread is not null)
            {
                // A failed walk: stop the helper before its buffers go back to the pool.
                lock (_gate)
                {
                    _abandoned = true;
                    Monitor.Pulse(_gate);
                }

                _thread.Join();
            }

            foreach (var chunk in _rented)
                ArrayPool<byte>.Shared.Return(chunk);
            _rented.Clear();
        }

        private void Consume(byte[] chunk, int count)
        {
            var bytes = chunk.AsSpan(0, count);
            hash.AppendData(bytes);
            observer?.Invoke(bytes);
        }

        /// <summary>Under the lock. Never overflows: there are only <c>ringChunks</c> chunks.</summary>
        private void Enqueue(byte[] chunk, int count)
        {
            var at = (_fullFirst + _fullCount) % ringChunks;
            _fullChunks[at] = chunk;
            _fullCounts[at] = count;
            _fullCount++;
        }

        private void Start()
        {
            for (var i = 1; i < ringChunks; i++)
                _free[_freeCount++] = Rent();
            _thread = new Thread(Run) { IsBackground = true, Name = "nar-hash" };
            _thread.Start();
        }

        private void Run()
        {
            try
            {
                while (true)
                {
                    byte[] chunk;
                    int count;
                    lock (_gate)
                    {
                        if (_fullCount == 0)
                        {
                            while (_fullCount < _half && !_done && !_abandoned)
                            {
                                _hasherWaiting = true;
                                Monitor.Wait(_gate);
                                _hasherWaiting = false;
                            }
                        }

                        if (_abandoned || _fullCount == 0)
                            return;
                        chunk = _fullChunks[_fullFirst];
                        count = _fullCounts[_fullFirst];
                        _fullChunks[_fullFirst] = null!;
                        _fullFirst = (_fullFirst + 1) % ringChunks;
                        _fullCount--;
                    }

                    Consume(chunk, count);
                    lock (_gate)
                    {
                        _free[_freeCount++] = chunk;
                        if (_readerWaiting && _freeCount >= _half)
                            Monitor.Pulse(_gate);
                    }
                }
            }
            catch (Exception e)
            {
                lock (_gate)
                {
                    _failure = e;
                    Monitor.Pulse(_gate);
                }
            }
        }
    }
}
