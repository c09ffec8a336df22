using System.Buffers;
using System.Security.Cryptography;
using BuildFarm.Store.Hashing;
using BuildFarm.Store.Local;
using BuildFarm.Store.Nar;
using BuildFarm.Store.Paths;
using BuildFarm.Store.Signing;

namespace BuildFarm.Store.Archives;

/// <summary>
/// Writes valid paths as an archive, references before referrers, each NAR produced from disk and checked against
/// the database on the way out: a path whose files no longer match its recorded hash and size aborts the export
/// before its trailer, so the receiver sees a truncated archive instead of accepting corrupt content. Without
/// <see cref="ExportOptions.VerifyContents"/> only the size is checked (after the NAR is out) and the hash is left to
/// the receiver, which must then check every NAR against the hash written before it (the signed form's importer does).
/// </summary>
public static class ArchiveWriter
{
    /// <returns>The paths written, in archive order.</returns>
    public static async Task<IReadOnlyList<StorePath>> ExportAsync(
        IStore store, IEnumerable<StorePath> paths, Stream output, ExportOptions options, CancellationToken cancellationToken)
    {
        if (!options.VerifyContents && options.Format != ArchiveFormat.BuildFarmSigned)
            throw new ArgumentException("a Nix-form export always checks every NAR against its recorded hash: nix-store --import records whatever hash the NAR it reads has", nameof(options));

        // Every path's metadata read once, up front (a closure in one walk of the database), then ordered in memory.
        var infos = new Dictionary<StorePath, ValidPathInfo>();
        if (options.Closure)
        {
            foreach (var info in await store.QueryClosureInfoAsync(paths, cancellationToken))
                infos[info.Path] = info;
        }
        else
        {
            foreach (var path in paths.Distinct())
                infos[path] = await store.GetPathInfoAsync(path, cancellationToken);
        }

        var ordered = await StoreGraph.SortTopologicallyAsync(infos.Keys, (p, _) => Task.FromResult(infos[p].References), cancellationToken);
        if (options.Format == ArchiveFormat.BuildFarmSigned)
            await WireWriter.WriteStringAsync(output, ArchiveMagic.SignedHeader, cancellationToken);
        foreach (var path in ordered)
        {
            var info = infos[path];
            await WireWriter.WriteU64Async(output, 1, cancellationToken);
            if (options.Format == ArchiveFormat.BuildFarmSigned)
            {
                await WireWriter.WriteStringAsync(output, info.Path.FullPath, cancellationToken);
                await WireWriter.WriteStringAsync(output, info.NarHash.ToString(), cancellationToken);
                await WireWriter.WriteU64Async(output, (ulong)info.NarSize, cancellationToken);
                await WireWriter.WriteStringsAsync(output, [.. info.References.Select(r => r.FullPath)], cancellationToken);
                await WireWriter.WriteStringAsync(output, info.Deriver?.FullPath ?? "", cancellationToken);
                await WireWriter.WriteStringsAsync(output, Signatures(info, options.SigningKey), cancellationToken);
                await WriteCheckedNarAsync(store, info, output, options, cancellationToken);
            }
            else
            {
                await WriteCheckedNarAsync(store, info, output, options, cancellationToken);
                await WireWriter.WriteU64Async(output, ArchiveMagic.ExportMagic, cancellationToken);
                await WireWriter.WriteStringAsync(output, info.Path.FullPath, cancellationToken);
                await WireWriter.WriteStringsAsync(output, [.. info.References.Select(r => r.FullPath)], cancellationToken);
                await WireWriter.WriteStringAsync(output, info.Deriver?.FullPath ?? "", cancellationToken);
                await WireWriter.WriteU64Async(output, 0, cancellationToken);
            }
        }

        await WireWriter.WriteU64Async(output, 0, cancellationToken);
        await output.FlushAsync(cancellationToken);
        return ordered;
    }

    /// <summary>The path's recorded signatures, plus (the origin signing what it serves) one by the export's key.</summary>
    private static IReadOnlyList<string> Signatures(ValidPathInfo info, SigningKey? key)
    {
        if (key is null)
            return info.Signatures;
        var own = key.Sign(info.Fingerprint);
        return [.. info.Signatures.Where(s => !s.StartsWith(key.Name + ":", StringComparison.Ordinal)), own];
    }

    private static async Task WriteCheckedNarAsync(IStore store, ValidPathInfo info, Stream output, ExportOptions options, CancellationToken cancellationToken)
    {
        var physical = store.PhysicalPath(info.Path);
        NixHash? hash = null;
        long size;
        if (options.SynchronousOutput && !options.VerifyContents)
        {
            size = WriteUnhashed(physical, output, cancellationToken);
        }
        else if (options.SynchronousOutput)
        {
            // NarHasher's own path, every NAR byte handed to the output in order as it is hashed.
            var (digest, narSize) = NarHasher.HashPath(physical, HashAlgorithmName.SHA256, output.Write, cancellationToken);
            (hash, size) = (new NixHash(digest), narSize);
        }
        else
        {
            await using var hashing = new HashingStream(output, leaveOpen: true);
            await NarWriter.WriteAsync(physical, hashing, cancellationToken);
            (hash, size) = (hashing.GetHash(), hashing.BytesCount);
        }

        if (size != info.NarSize || (hash is { } actual && !actual.Equals(info.NarHash)))
        {
            var found = hash is { } h ? $"{h} ({size} bytes)" : $"{size} bytes long";
            throw new StoreException(
                $"path '{info.Path}' is corrupt on disk: its NAR is {found} but the store recorded {info.NarHash} ({info.NarSize} bytes); export aborted");
        }
    }

    /// <summary>
    /// The NAR straight from <see cref="NarSerializer"/> to <paramref name="output"/>, one write per chunk, nothing
    /// hashed; returns its size.
    /// </summary>
    private static long WriteUnhashed(string physicalPath, Stream output, CancellationToken cancellationToken)
    {
        var chunk = ArrayPool<byte>.Shared.Rent(NarHasher.ChunkSize);
        try
        {
            var size = NarSerializer.Write(physicalPath, chunk, (full, count) =>
            {
                output.Write(full, 0, count);
                return full;
            }, out var last, out var lastCount, cancellationToken);
            output.Write(last, 0, lastCount);
            return size;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(chunk);
        }
    }
}
