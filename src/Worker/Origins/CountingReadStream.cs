using BuildFarm.Store.Streams;

namespace BuildFarm.Worker.Origins;

/// <summary>A read-only pass-through that counts the bytes read (for the transfer log).</summary>
internal sealed class CountingReadStream(Stream inner) : ReadOnlyStream
{
    private long _count;

    public long Count => Interlocked.Read(ref _count);

    public override int Read(byte[] buffer, int offset, int count) => Counted(inner.Read(buffer, offset, count));

    public override int Read(Span<byte> buffer) => Counted(inner.Read(buffer));

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        Counted(await inner.ReadAsync(buffer, cancellationToken));

    private int Counted(int n)
    {
        Interlocked.Add(ref _count, n);
        return n;
    }
}
