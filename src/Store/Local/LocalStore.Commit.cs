using BuildFarm.Store.Paths;
using Microsoft.Data.Sqlite;

namespace BuildFarm.Store.Local;

public sealed partial class LocalStore
{
    /// <summary>A fresh temporary entry in the physical store directory to write content into.</summary>
    public StagedPath CreateStagedPath() => StagedPath.Create(Layout.PhysicalStoreDir, _locks);

    /// <summary>
    /// Makes staged content valid, all or nothing: every reference must be in the batch or already valid; entries
    /// whose path is already valid (a concurrent add won) are skipped. The files are flushed, renamed into place and
    /// then every row is committed in one transaction; if anything fails the renamed entries are deleted again and
    /// no row is written. The caller still disposes the staged paths (which deletes what was not renamed).
    /// </summary>
    /// <returns>The paths of the batch, in batch order.</returns>
    public async Task<IReadOnlyList<StorePath>> CommitStagedAsync(IReadOnlyList<StagedEntry> entries, CancellationToken cancellationToken)
    {
        var batch = StagedEntry.BatchPaths(entries, StoreDir);
        foreach (var entry in entries)
        {
            if (!entry.Staged.ContentSynced)
                StoreFiles.SyncTree(entry.Staged.PhysicalPath);
        }

        var locks = await _locks.AcquireAllAsync(batch.Select(p => p.BaseName), cancellationToken);
        var renamed = new List<string>();
        try
        {
            await using var connection = await _db.OpenAsync(cancellationToken);
            await using var transaction = StoreDatabase.BeginWrite(connection);
            var toAdd = new List<StagedEntry>();
            foreach (var entry in entries)
            {
                if (await StoreDatabase.PathIdAsync(connection, transaction, entry.Info.Path, cancellationToken) is null)
                    toAdd.Add(entry);
            }

            foreach (var entry in toAdd)
            {
                foreach (var reference in entry.Info.References)
                {
                    if (!batch.Contains(reference) && await StoreDatabase.PathIdAsync(connection, transaction, reference, cancellationToken) is null)
                        throw new StoreException($"path '{entry.Info.Path}' references '{reference}', which is neither valid in the store nor part of this import");
                }
            }

            // Checkpoint: from the first rename until the commit, a crash leaves entries without rows, which the
            // next OpenAsync deletes (we hold their path locks until then, so no live cleanup touches them).
            foreach (var entry in toAdd)
            {
                var final = PhysicalPath(entry.Info.Path);
                StoreFiles.Delete(final);
                StoreFiles.Rename(entry.Staged.PhysicalPath, final);
                renamed.Add(final);
            }

            var now = _time.GetUtcNow();
            var ids = new Dictionary<StorePath, long>();
            foreach (var entry in toAdd)
                ids[entry.Info.Path] = await InsertRowAsync(connection, transaction, entry.Info, now, cancellationToken);
            foreach (var entry in toAdd)
                await InsertReferencesAndSigsAsync(connection, transaction, ids[entry.Info.Path], entry.Info, ids, cancellationToken);
            await transaction.CommitAsync(cancellationToken);
            renamed.Clear();
            return [.. entries.Select(e => e.Info.Path)];
        }
        finally
        {
            foreach (var final in renamed)
                StoreFiles.Delete(final);
            foreach (var held in locks)
                held.Dispose();
        }
    }

    private static async Task<long> InsertRowAsync(SqliteConnection connection, SqliteTransaction transaction, ValidPathInfo info, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = "INSERT INTO ValidPaths (path, narHash, narSize, deriver, registrationTime) VALUES ($p, $h, $s, $d, $t) RETURNING id";
        command.Parameters.AddWithValue("$p", info.Path.FullPath);
        command.Parameters.AddWithValue("$h", info.NarHash.ToString());
        command.Parameters.AddWithValue("$s", info.NarSize);
        command.Parameters.AddWithValue("$d", (object?)info.Deriver?.FullPath ?? DBNull.Value);
        command.Parameters.AddWithValue("$t", now.ToUnixTimeSeconds());
        return (long)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    private static async Task InsertReferencesAndSigsAsync(
        SqliteConnection connection, SqliteTransaction transaction, long id, ValidPathInfo info, Dictionary<StorePath, long> batchIds, CancellationToken cancellationToken)
    {
        foreach (var reference in info.References.Distinct())
        {
            var referenceId = batchIds.TryGetValue(reference, out var b) ? b
                : await StoreDatabase.PathIdAsync(connection, transaction, reference, cancellationToken)
                  ?? throw new StoreException($"path '{info.Path}' references '{reference}', which is not valid");
            await using var command = connection.CreateCommand();
            command.Transaction = transaction;
            command.CommandText = "INSERT OR IGNORE INTO Refs (referrer, reference) VALUES ($a, $b)";
            command.Parameters.AddWithValue("$a", id);
            command.Parameters.AddWithValue("$b", referenceId);
            await command.ExecuteNonQueryAsync(cancellationToken);
        }

        await InsertSignaturesAsync(connection, transaction, id, info.Signatures, cancellationToken);
    }

    private static async Task InsertSignaturesAsync(SqliteConnection connection, SqliteTransaction transaction, long id, IEnumerable<string> signatures, CancellationToken cancellationToken)
    {
        foreach (var sig in signatures)
        {
            await using var command = connection.CreateCommand();
            command.Transaction = transaction;
            command.CommandText = "INSERT OR IGNORE INTO Sigs (pathId, sig) VALUES ($id, $sig)";
            command.Parameters.AddWithValue("$id", id);
            command.Parameters.AddWithValue("$sig", sig);
            await command.ExecuteNonQueryAsync(cancellationToken);
        }
    }
}
