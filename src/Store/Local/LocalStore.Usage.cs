using BuildFarm.Store.Paths;

namespace BuildFarm.Store.Local;

/// <summary>One valid path as a cache sees it: its size, when it was last used and what it references.</summary>
public sealed record PathUsage(StorePath Path, long NarSize, DateTimeOffset LastUsed, IReadOnlyList<StorePath> References);

/// <summary>What a store used as a cache needs: when each path was last used, and every path's size and references at once.</summary>
public sealed partial class LocalStore
{
    /// <summary>Records that <paramref name="paths"/> were used now (paths that are not valid are ignored).</summary>
    public async Task TouchAsync(IEnumerable<StorePath> paths, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow().ToUnixTimeSeconds();
        await using var connection = await _db.OpenAsync(cancellationToken);
        await using var transaction = StoreDatabase.BeginWrite(connection);
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = "UPDATE ValidPaths SET lastUsed = $t WHERE path = $p";
        command.Parameters.AddWithValue("$t", now);
        var p = command.Parameters.Add("$p", Microsoft.Data.Sqlite.SqliteType.Text);
        foreach (var path in paths.Distinct())
        {
            p.Value = path.FullPath;
            await command.ExecuteNonQueryAsync(cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
    }

    /// <summary>Every valid path with its NAR size, last use (its registration when never used since) and references, least recently used first.</summary>
    public async Task<IReadOnlyList<PathUsage>> ListUsageAsync(CancellationToken cancellationToken)
    {
        await using var connection = await _db.OpenAsync(cancellationToken);
        await using var transaction = connection.BeginTransaction(deferred: true);
        var references = new Dictionary<long, List<StorePath>>();
        await using (var command = connection.CreateCommand())
        {
            command.Transaction = transaction;
            command.CommandText = "SELECT r.referrer, v.path FROM Refs r JOIN ValidPaths v ON v.id = r.reference";
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                if (!references.TryGetValue(reader.GetInt64(0), out var list))
                    references[reader.GetInt64(0)] = list = [];
                list.Add(StorePath.Parse(StoreDir, reader.GetString(1)));
            }
        }

        var result = new List<PathUsage>();
        await using (var command = connection.CreateCommand())
        {
            command.Transaction = transaction;
            command.CommandText = "SELECT id, path, narSize, COALESCE(lastUsed, registrationTime) AS used FROM ValidPaths ORDER BY used, path";
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                result.Add(new PathUsage(
                    StorePath.Parse(StoreDir, reader.GetString(1)), reader.GetInt64(2), DateTimeOffset.FromUnixTimeSeconds(reader.GetInt64(3)),
                    references.GetValueOrDefault(reader.GetInt64(0)) ?? []));
            }
        }

        return result;
    }
}
