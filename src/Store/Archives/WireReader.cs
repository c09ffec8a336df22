using System.Buffers.Binary;
using System.Text;
using BuildFarm.Store.Hashing;
using BuildFarm.Store.Local;
using BuildFarm.Store.Nar;

namespace BuildFarm.Store.Archives;

/// <summary>
/// Reads the wire encoding from an archive, keeping the byte offset so that every error can say where the archive
/// went wrong. A stream ending early is reported as truncation, never as a bare end-of-stream exception.
/// </summary>
internal sealed class WireReader(Stream input)
{
    private const int MaxString = 64 * 1024;
    private const int MaxCount = 1024 * 1024;

    public long Offset { get; private set; }

    public async Task<ulong> ReadU64Async(string what, CancellationToken cancellationToken)
    {
        var buffer = new byte[8];
        await ReadExactlyAsync(buffer, what, cancellationToken);
        return BinaryPrimitives.ReadUInt64LittleEndian(buffer);
    }

    public async Task<string> ReadStringAsync(string what, CancellationToken cancellationToken)
    {
        var start = Offset;
        var length = await ReadU64Async(what, cancellationToken);
        return await ReadStringBodyAsync(length, start, what, cancellationToken);
    }

    /// <summary>The rest of a string whose length was already read (used to sniff the archive form).</summary>
    public async Task<string> ReadStringBodyAsync(ulong length, long start, string what, CancellationToken cancellationToken)
    {
        if (length > MaxString)
            throw new ArchiveException($"archive is malformed at byte offset {start}: {what} claims {length} bytes (at most {MaxString} allowed)");
        var padded = new byte[(length + 7) & ~7UL];
        await ReadExactlyAsync(padded, what, cancellationToken);
        if (padded.AsSpan((int)length).ContainsAnyExcept((byte)0))
            throw new ArchiveException($"archive is malformed at byte offset {start}: {what} has non-zero padding");
        return Encoding.UTF8.GetString(padded, 0, (int)length);
    }

    public async Task<IReadOnlyList<string>> ReadStringsAsync(string what, CancellationToken cancellationToken)
    {
        var start = Offset;
        var count = await ReadU64Async($"number of {what}", cancellationToken);
        if (count > MaxCount)
            throw new ArchiveException($"archive is malformed at byte offset {start}: {count} {what} (at most {MaxCount} allowed)");
        var result = new List<string>((int)count);
        for (var i = 0UL; i < count; i++)
            result.Add(await ReadStringAsync(what, cancellationToken));
        return result;
    }

    /// <summary>Restores one NAR to <paramref name="target"/>, returning the hash and size of its bytes.</summary>
    // maxSize: the signed NAR size when the metadata came first. Reading stops there, so a longer NAR is refused after
    // at most that many bytes instead of being restored to its end.
    // syncer: flushes each restored file to disk in the background (the importer waits for it before committing).
    public async Task<(NixHash Hash, long Size)> RestoreNarAsync(string target, string what, FileSyncer syncer, CancellationToken cancellationToken, long? maxSize = null)
    {
        var start = Offset;
        var source = maxSize is { } max ? new BoundedReadStream(input, max) : input;
        var hashing = new HashingStream(source, leaveOpen: true);
        await using (hashing)
        {
            try
            {
                await NarReader.RestoreAsync(hashing, target, rejectTrailingData: false, syncer, cancellationToken);
            }
            catch (NarFormatException e)
            {
                throw new ArchiveException($"bad NAR of {what} (starting at archive byte offset {start}): {e.Message}", e);
            }
            catch (EndOfStreamException e)
            {
                throw new ArchiveException($"archive is truncated: it ends inside the NAR of {what} (starting at byte offset {start})", e);
            }
            catch (BoundedReadStream.LimitExceededException e)
            {
                throw new ArchiveException($"the NAR of {what} (starting at archive byte offset {start}) is longer than its signed size of {e.Limit} bytes: refused at that size, nothing imported", e);
            }

            Offset += hashing.BytesCount;
            return (hashing.GetHash(), hashing.BytesCount);
        }
    }

    private async Task ReadExactlyAsync(byte[] buffer, string what, CancellationToken cancellationToken)
    {
        try
        {
            await input.ReadExactlyAsync(buffer, cancellationToken);
        }
        catch (EndOfStreamException e)
        {
            throw new ArchiveException($"archive is truncated: it ends at or after byte offset {Offset} while reading {what}", e);
        }

        Offset += buffer.Length;
    }
}
