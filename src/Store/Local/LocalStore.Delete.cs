using BuildFarm.Store.Paths;

namespace BuildFarm.Store.Local;

/// <summary>What leaves the store: a valid path an operator deletes, and the invalid leftovers <see cref="OpenAsync"/> cleans up.</summary>
public sealed partial class LocalStore
{
    /// <summary>Deletes a valid path that no other valid path references (the row first, then the files).</summary>
    public async Task DeleteAsync(StorePath path, CancellationToken cancellationToken)
    {
        using var held = await LockPathAsync(path, cancellationToken);
        await using (var connection = await _db.OpenAsync(cancellationToken))
        {
            await using var transaction = StoreDatabase.BeginWrite(connection);
            var id = await StoreDatabase.PathIdAsync(connection, transaction, path, cancellationToken)
                ?? throw new StoreException($"cannot delete '{path}': it is not valid in the store");
            var referrers = (await _db.ReferrersAsync(connection, transaction, path, cancellationToken)).Where(r => r != path).ToList();
            if (referrers.Count > 0)
                throw new StoreException($"cannot delete '{path}': still referenced by {string.Join(", ", referrers)}");
            await using var command = connection.CreateCommand();
            command.Transaction = transaction;
            command.CommandText = "DELETE FROM Refs WHERE referrer = $id; DELETE FROM ValidPaths WHERE id = $id;";
            command.Parameters.AddWithValue("$id", id);
            await command.ExecuteNonQueryAsync(cancellationToken);
            await transaction.CommitAsync(cancellationToken);
        }

        // Checkpoint: the path is invalid now; a crash before the next line leaves a leftover for OpenAsync.
        StoreFiles.Delete(PhysicalPath(path));
    }

    private async Task DeleteInvalidLeftoversAsync(CancellationToken cancellationToken)
    {
        // Under the writer lock nobody is between "renamed into place" and "row committed", so an entry without a
        // row is either a crash leftover or locked by its (live) owner.
        await using var connection = await _db.OpenAsync(cancellationToken);
        await using var transaction = StoreDatabase.BeginWrite(connection);
        var valid = await StoreDatabase.AllPathsAsync(connection, transaction, cancellationToken);
        foreach (var entry in Directory.EnumerateFileSystemEntries(Layout.PhysicalStoreDir))
        {
            var name = Path.GetFileName(entry);
            if (valid.Contains(StoreDir.Path + "/" + name))
                continue;
            using var held = _locks.TryAcquire(name);
            if (held is null)
                continue;
            StoreFiles.Delete(entry);
            if (name.StartsWith(StagedPath.Prefix, StringComparison.Ordinal))
                File.Delete(held.File);
        }

        await transaction.CommitAsync(cancellationToken);
    }
}
