using BuildFarm.Store.Paths;

namespace BuildFarm.Store.Local;

/// <summary>Content written to a <see cref="StagedPath"/> and the row it becomes valid with.</summary>
/// <remarks>The registration time of <paramref name="Info"/> is replaced by the commit time.</remarks>
public sealed record StagedEntry(StagedPath Staged, ValidPathInfo Info)
{
    /// <summary>The paths of a batch to commit into <paramref name="storeDir"/>; a path of another store directory, or
    /// one that appears twice, refuses the whole batch.</summary>
    public static HashSet<StorePath> BatchPaths(IReadOnlyList<StagedEntry> entries, StoreDirectory storeDir)
    {
        var batch = new HashSet<StorePath>();
        foreach (var entry in entries)
        {
            if (entry.Info.Path.StoreDir != storeDir)
                throw new StoreException($"path '{entry.Info.Path}' is not in the store directory {storeDir.Path}");
            if (!batch.Add(entry.Info.Path))
                throw new StoreException($"path '{entry.Info.Path}' appears twice in one batch");
        }

        return batch;
    }
}
