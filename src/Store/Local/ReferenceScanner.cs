using System.Buffers.Binary;
using System.Text;
using BuildFarm.Store.Hashing;
using BuildFarm.Store.Paths;
using BuildFarm.Store.Streams;

namespace BuildFarm.Store.Local;

/// <summary>
/// A write-only sink that finds which candidate store paths a NAR mentions, by their 32-character digest, as the
/// NAR streams through it. The last 31 bytes of each write are carried into the next one, so a digest split across
/// chunks is still found. Candidates are indexed by their first 8 bytes; only a hit compares the whole digest.
/// </summary>
internal sealed class ReferenceScanner : WriteOnlyStream
{
    private const int Width = StorePath.DigestLength;
    private static readonly bool[] IsNix32 = BuildAlphabet();

    private readonly Dictionary<ulong, List<(byte[] Digest, StorePath Path)>> _byPrefix = [];
    private readonly HashSet<StorePath> _found = [];
    private byte[] _window = new byte[64 * 1024];
    private int _carry;

    public ReferenceScanner(IEnumerable<StorePath> candidates)
    {
        foreach (var path in candidates.Distinct())
        {
            var digest = Encoding.ASCII.GetBytes(path.Digest);
            var key = BinaryPrimitives.ReadUInt64LittleEndian(digest);
            if (!_byPrefix.TryGetValue(key, out var list))
                _byPrefix[key] = list = [];
            list.Add((digest, path));
        }
    }

    /// <summary>The candidates seen so far, sorted.</summary>
    public IReadOnlyList<StorePath> Found => [.. _found.Order(StorePath.Ordinal)];

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        if (_byPrefix.Count == 0 || buffer.IsEmpty)
            return;
        if (_carry + buffer.Length > _window.Length)
            Array.Resize(ref _window, _carry + buffer.Length);
        buffer.CopyTo(_window.AsSpan(_carry));
        var length = _carry + buffer.Length;
        Scan(_window.AsSpan(0, length));
        _carry = Math.Min(Width - 1, length);
        _window.AsSpan(length - _carry, _carry).CopyTo(_window);
    }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        Write(buffer.Span);
        return ValueTask.CompletedTask;
    }

    private void Scan(ReadOnlySpan<byte> data)
    {
        // run = how many nix32 characters end at position i; a window ending at i is a candidate once run >= Width.
        var run = 0;
        for (var i = 0; i < data.Length; i++)
        {
            run = IsNix32[data[i]] ? run + 1 : 0;
            if (run < Width)
                continue;
            var window = data.Slice(i - Width + 1, Width);
            if (!_byPrefix.TryGetValue(BinaryPrimitives.ReadUInt64LittleEndian(window), out var list))
                continue;
            foreach (var (digest, path) in list)
            {
                if (window.SequenceEqual(digest))
                    _found.Add(path);
            }
        }
    }

    private static bool[] BuildAlphabet()
    {
        var table = new bool[256];
        foreach (var c in "0123456789abcdfghijklmnpqrsvwxyz")
            table[c] = true;
        return table;
    }
}
