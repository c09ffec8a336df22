using BuildFarm.Store.Hashing;
using BuildFarm.Store.Local;
using BuildFarm.Store.Paths;
using BuildFarm.Store.Signing;
using BuildFarm.Store.Streams;

namespace BuildFarm.Store.Archives;

/// <summary>
/// Imports an archive of either form (told apart by its first word) all or nothing: every path is restored into its
/// own temporary entry and checked (NAR well-formed, hash as signed, signature trusted, path in this store, and with
/// <see cref="ImportOptions.OutputsOf"/> an output of that derivation with a fixed output's declared content) while the
/// stream is read; only after the end marker are they renamed into place and committed in one transaction (which also
/// checks that every reference is in the archive or already valid). On any error the temporary entries are deleted
/// and the store is exactly as before. Restored files are flushed to disk in the background while the rest of the
/// archive is read (<see cref="FileSyncer"/>), and all of them are on disk before the first rename.
/// </summary>
public static class ArchiveImporter
{
    /// <returns>The archive's paths in archive order (including ones that were already valid).</returns>
    public static async Task<IReadOnlyList<StorePath>> ImportAsync(IStore store, Stream input, ImportOptions options, CancellationToken cancellationToken)
    {
        if (options.CheckSignatures && options.TrustedKeys is null)
            throw new ArchiveException("cannot check signatures without trusted keys: pass trusted keys, or disable signature checks");
        var reader = new WireReader(new StallGuardStream(input, options.StallTimeout, options.Time ?? TimeProvider.System));
        var staged = new List<StagedEntry>();
        // A fixed output's content is read back before the commit, so with OutputsOf every file is written by the
        // restore itself; otherwise large files are written on the syncer's threads while the next bytes arrive.
        var syncer = new FileSyncer(largeFilesInBackground: options.OutputsOf is null);
        try
        {
            var first = await reader.ReadU64Async("the first word of the archive", cancellationToken);
            if (first is 0 or 1)
            {
                for (var marker = first; marker != 0; marker = await ReadMarkerAsync(reader, staged.Count, cancellationToken))
                    staged.Add(await ReadNixEntryAsync(store, reader, staged.Count, options, syncer, cancellationToken));
            }
            else
            {
                var header = await reader.ReadStringBodyAsync(first, 0, "the archive header", cancellationToken);
                if (header != ArchiveMagic.SignedHeader)
                    throw new ArchiveException($"not an archive: it starts neither with a nix-store --export entry nor with '{ArchiveMagic.SignedHeader}'");
                while (await ReadMarkerAsync(reader, staged.Count, cancellationToken) != 0)
                    staged.Add(await ReadSignedEntryAsync(store, reader, staged.Count, options, syncer, cancellationToken));
            }

            await syncer.FlushAsync(cancellationToken);
            foreach (var entry in staged)
                entry.Staged.ContentSynced = true;
            return await store.CommitStagedAsync(staged, cancellationToken);
        }
        finally
        {
            await syncer.DisposeAsync();
            foreach (var entry in staged)
                entry.Staged.Dispose();
        }
    }

    private static async Task<ulong> ReadMarkerAsync(WireReader reader, int index, CancellationToken cancellationToken)
    {
        var start = reader.Offset;
        var marker = await reader.ReadU64Async($"the marker before entry #{index + 1}", cancellationToken);
        return marker <= 1 ? marker
            : throw new ArchiveException($"archive is malformed at byte offset {start}: expected 1 (another path) or 0 (end), got {marker}");
    }

    private static async Task<StagedEntry> ReadNixEntryAsync(IStore store, WireReader reader, int index, ImportOptions options, FileSyncer syncer, CancellationToken cancellationToken)
    {
        var what = $"entry #{index + 1}";
        var staged = store.CreateStagedPath();
        try
        {
            var (hash, size) = await reader.RestoreNarAsync(staged.PhysicalPath, what, syncer, cancellationToken);
            var start = reader.Offset;
            if (await reader.ReadU64Async($"the NIXE marker of {what}", cancellationToken) != ArchiveMagic.ExportMagic)
                throw new ArchiveException($"archive is malformed at byte offset {start}: {what} lacks the NIXE marker after its NAR");
            var path = Parse(store, await reader.ReadStringAsync($"the path of {what}", cancellationToken), what);
            var references = (await reader.ReadStringsAsync($"references of {path}", cancellationToken)).Select(r => Parse(store, r, $"a reference of {path}")).ToList();
            var deriver = await ReadDeriverAsync(store, reader, path, cancellationToken);
            start = reader.Offset;
            if (await reader.ReadU64Async($"the legacy signature flag of {path}", cancellationToken) != 0)
                throw new ArchiveException($"archive is malformed at byte offset {start}: {path} carries a legacy Nix signature, which is not supported");
            if (options.CheckSignatures)
                throw new ArchiveException($"path '{path}' is unsigned (a nix-store --export archive carries no signatures): import it with --no-check-sigs (then sign it), or export it in the signed form") { Untrusted = true };
            CheckExpected(path, hash, options);
            var info = new ValidPathInfo(path, hash, size, [.. references.Distinct().Order(StorePath.Ordinal)], deriver, [], default);
            CheckOutputPath(path, options);
            await CheckOutputContentAsync(info, staged.PhysicalPath, options, cancellationToken);
            // A verified fixed output is content-addressed: a Nix store records it so, as Nix's own build would.
            return new StagedEntry(staged, info with { ContentAddress = options.OutputsOf?.ContentAddress(path) });
        }
        catch
        {
            staged.Dispose();
            throw;
        }
    }

    private static async Task<StagedEntry> ReadSignedEntryAsync(IStore store, WireReader reader, int index, ImportOptions options, FileSyncer syncer, CancellationToken cancellationToken)
    {
        var what = $"entry #{index + 1}";
        var path = Parse(store, await reader.ReadStringAsync($"the path of {what}", cancellationToken), what);
        var hashText = await reader.ReadStringAsync($"the NAR hash of {path}", cancellationToken);
        if (!NixHash.TryParse(hashText, out var narHash))
            throw new ArchiveException($"path '{path}' has a malformed NAR hash '{hashText}'");
        var sizeWord = await reader.ReadU64Async($"the NAR size of {path}", cancellationToken);
        if (sizeWord > long.MaxValue)
            throw new ArchiveException($"path '{path}' has NAR size {sizeWord}, beyond the largest possible ({long.MaxValue} bytes): the archive is corrupt or crafted");
        var narSize = (long)sizeWord;
        var references = (await reader.ReadStringsAsync($"references of {path}", cancellationToken)).Select(r => Parse(store, r, $"a reference of {path}")).ToList();
        var deriver = await ReadDeriverAsync(store, reader, path, cancellationToken);
        var sigs = await reader.ReadStringsAsync($"signatures of {path}", cancellationToken);
        CheckExpected(path, narHash, options);
        var info = new ValidPathInfo(path, narHash, narSize, [.. references.Distinct().Order(StorePath.Ordinal)], deriver, [.. sigs.Distinct()], default);
        if (options.CheckSignatures)
        {
            var check = options.TrustedKeys!.VerifyAny(info.Fingerprint, info.Signatures);
            if (!check.IsValid)
                throw new ArchiveException($"path '{path}' is not signed by a trusted key: {check.Reason}") { Untrusted = true };
        }

        CheckOutputPath(path, options);
        var staged = store.CreateStagedPath();
        try
        {
            var (hash, size) = await reader.RestoreNarAsync(staged.PhysicalPath, $"{what} ({path})", syncer, cancellationToken, maxSize: narSize);
            if (size != narSize || !hash.Equals(narHash))
                throw new ArchiveException($"path '{path}': NAR hash mismatch: the archive's NAR is {hash} ({size} bytes) but the signed metadata says {narHash} ({narSize} bytes): the sender's copy is corrupt or was altered on the way; nothing imported");
            await CheckOutputContentAsync(info, staged.PhysicalPath, options, cancellationToken);
            return new StagedEntry(staged, info with { ContentAddress = options.OutputsOf?.ContentAddress(path) });
        }
        catch
        {
            staged.Dispose();
            throw;
        }
    }

    /// <summary>With <see cref="ImportOptions.ExpectedNarHashes"/>: the path must be expected, with exactly that hash.</summary>
    private static void CheckExpected(StorePath path, NixHash narHash, ImportOptions options)
    {
        if (options.ExpectedNarHashes is not { } expected)
            return;
        if (!expected.TryGetValue(path.FullPath, out var wanted))
            throw new ArchiveException($"path '{path}' is in the archive but was not asked for");
        if (!wanted.Equals(narHash))
            throw new ArchiveException($"path '{path}' has NAR hash {narHash} in the archive, but {wanted} was expected");
    }

    /// <summary>With <see cref="ImportOptions.OutputsOf"/>: the path must be an output of that derivation.</summary>
    private static void CheckOutputPath(StorePath path, ImportOptions options)
    {
        if (options.OutputsOf?.CheckPath(path) is { } error)
            throw new ArchiveException(error);
    }

    /// <summary>
    /// With <see cref="ImportOptions.OutputsOf"/>: a fixed output's restored copy must hold the declared content. The
    /// copy is still a temporary entry, so a refusal leaves nothing valid, not even for a moment.
    /// </summary>
    private static async Task CheckOutputContentAsync(ValidPathInfo info, string physicalPath, ImportOptions options, CancellationToken cancellationToken)
    {
        if (options.OutputsOf is { } outputs && await outputs.CheckContentAsync(info, physicalPath, cancellationToken) is { } error)
            throw new ArchiveException(error);
    }

    private static async Task<StorePath?> ReadDeriverAsync(IStore store, WireReader reader, StorePath path, CancellationToken cancellationToken)
    {
        var text = await reader.ReadStringAsync($"the deriver of {path}", cancellationToken);
        return text.Length == 0 ? null : Parse(store, text, $"the deriver of {path}");
    }

    private static StorePath Parse(IStore store, string text, string what) =>
        StorePath.TryParse(store.StoreDir, text, out var path, out var error) ? path!
            : throw new ArchiveException($"{what} is rejected: {error}");
}
