using System.Globalization;
using BuildFarm.Store.Local;
using BuildFarm.Store.Paths;

namespace BuildFarm.Store.Quarantine;

/// <summary>
/// Where a worker's returned outputs wait at the origin until the dispatcher has checked them: one signed archive
/// per (build, attempt) under <c>&lt;state dir&gt;/quarantine/</c>. Nothing here is in the store: the dispatcher
/// imports a file with <see cref="Archives.ArchiveImporter"/> (signatures by trusted worker keys, every NAR hash,
/// all or nothing) and deletes it afterwards, whatever the verdict.
/// </summary>
/// <remarks>
/// Delivery: a worker writes with <see cref="ReceiveAsync"/> (temporary file, fsync, rename) before it publishes
/// BuildSucceeded, so a file that exists is complete; a transfer cut halfway leaves only a <c>.part</c> file, which
/// the next receive of the same attempt overwrites and the dispatcher's quarantine sweep removes once it is stale
/// (it lists the folder with <see cref="Entries"/>).
/// </remarks>
public sealed class OutputQuarantine
{
    private const string PartSuffix = ".part";
    private const string ArchiveSuffix = ".archive";

    public OutputQuarantine(StoreLayout layout)
    {
        Directory = Path.Combine(LocalStore.StateDirectory(layout), "quarantine");
    }

    /// <summary>The quarantine folder (created on first receive).</summary>
    public string Directory { get; }

    /// <summary>The complete archive of one attempt's outputs.</summary>
    public string FileFor(Guid buildId, int attempt)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(attempt, 1);
        return Path.Combine(Directory, $"{buildId:N}-{attempt}{ArchiveSuffix}");
    }

    /// <summary>
    /// Copies <paramref name="archive"/> into the quarantine file of (<paramref name="buildId"/>,
    /// <paramref name="attempt"/>), refusing more than <paramref name="maxBytes"/>. The file appears only when
    /// complete; a previous file of the same attempt is replaced (a retried upload).
    /// </summary>
    /// <remarks>
    /// With <paramref name="stallTimeout"/>, an upload that brings no byte for that long fails with
    /// <see cref="Streams.StreamStalledException"/>; cancelling returns at once even while a read is pending. Either
    /// way the <c>.part</c> file is deleted before this returns.
    /// </remarks>
    /// <returns>The bytes received.</returns>
    public async Task<long> ReceiveAsync(
        Guid buildId, int attempt, Stream archive, long maxBytes, CancellationToken cancellationToken, TimeSpan? stallTimeout = null, TimeProvider? time = null)
    {
        archive = new Streams.StallGuardStream(archive, stallTimeout, time ?? TimeProvider.System);
        System.IO.Directory.CreateDirectory(Directory);
        var final = FileFor(buildId, attempt);
        var part = final + PartSuffix;
        long total = 0;
        try
        {
            await using (var file = new FileStream(part, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous))
            {
                var buffer = new byte[1 << 16];
                int n;
                while ((n = await archive.ReadAsync(buffer, cancellationToken)) > 0)
                {
                    total += n;
                    if (total > maxBytes)
                        throw new IOException($"the returned outputs exceed the quarantine limit of {maxBytes} bytes");
                    await file.WriteAsync(buffer.AsMemory(0, n), cancellationToken);
                }

                await file.FlushAsync(cancellationToken);
                file.Flush(flushToDisk: true);
            }

            File.Move(part, final, overwrite: true);
            return total;
        }
        catch
        {
            File.Delete(part);
            throw;
        }
    }

    /// <summary>Opens a complete quarantine file, or returns null when none was received for this attempt.</summary>
    public Stream? OpenOrNull(Guid buildId, int attempt)
    {
        var file = FileFor(buildId, attempt);
        return File.Exists(file) ? new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous) : null;
    }

    /// <summary>Removes an attempt's file after import or rejection; none there (not even the folder, as after a failed first build) is fine.</summary>
    public void Delete(Guid buildId, int attempt)
    {
        try
        {
            File.Delete(FileFor(buildId, attempt));
        }
        catch (DirectoryNotFoundException)
        {
        }
    }

    /// <summary>
    /// Every file in the quarantine folder that belongs to an attempt (complete or <c>.part</c>), with its last write
    /// time; files with other names are not ours and are left out.
    /// </summary>
    public IReadOnlyList<QuarantineEntry> Entries()
    {
        if (!System.IO.Directory.Exists(Directory))
            return [];
        var entries = new List<QuarantineEntry>();
        foreach (var file in System.IO.Directory.EnumerateFiles(Directory))
        {
            var name = Path.GetFileName(file);
            var isPart = name.EndsWith(PartSuffix, StringComparison.Ordinal);
            var stem = isPart ? name[..^PartSuffix.Length] : name;
            if (!stem.EndsWith(ArchiveSuffix, StringComparison.Ordinal))
                continue;
            // <32 hex digits>-<attempt>.archive
            if (stem.Length <= 32 + 1 + ArchiveSuffix.Length || stem[32] != '-'
                || !Guid.TryParseExact(stem[..32], "N", out var buildId)
                || !int.TryParse(stem[33..^ArchiveSuffix.Length], NumberStyles.None, CultureInfo.InvariantCulture, out var number) || number < 1)
                continue;
            entries.Add(new QuarantineEntry(file, buildId, number, isPart, File.GetLastWriteTimeUtc(file)));
        }

        return entries;
    }
}
