using BuildFarm.Store.Local;
using BuildFarm.Store.Paths;
using Microsoft.Data.Sqlite;

namespace BuildFarm.Store.NixDb;

/// <summary>
/// Adds signatures to valid paths of Nix's database: the one write BuildFarm makes to it directly, because Nix 2.8
/// has no command that records a given signature (<c>nix store sign</c> needs the secret key, <c>copy-sigs</c> a
/// substituter). It touches only the <c>sigs</c> column (space-separated, as Nix writes it), merging with what is
/// there, in one short transaction that waits for nix-daemon's writers (busy timeout) instead of failing.
/// </summary>
internal static class NixSignatureWriter
{
    private const int BusyTimeoutSeconds = 60;

    public static async Task AddAsync(string databaseFile, IReadOnlyDictionary<StorePath, IReadOnlyList<string>> signatures, CancellationToken cancellationToken)
    {
        if (signatures.Values.All(s => s.Count == 0))
            return;
        var connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = databaseFile,
            Mode = SqliteOpenMode.ReadWrite,
            Pooling = false,
            DefaultTimeout = BusyTimeoutSeconds,
        }.ToString();
        await using var connection = new SqliteConnection(connectionString);
        await connection.OpenAsync(cancellationToken);
        await using var transaction = connection.BeginTransaction(deferred: false);
        foreach (var (path, sigs) in signatures)
        {
            if (sigs.Count == 0)
                continue;
            string? current;
            await using (var read = connection.CreateCommand())
            {
                read.Transaction = transaction;
                read.CommandText = "SELECT coalesce(sigs, '') FROM ValidPaths WHERE path = $p";
                read.Parameters.AddWithValue("$p", path.FullPath);
                current = (string?)await read.ExecuteScalarAsync(cancellationToken)
                    ?? throw new StoreException($"cannot record the signatures of '{path}': it is not valid in Nix's database {databaseFile}");
            }

            var merged = current.Split(' ', StringSplitOptions.RemoveEmptyEntries).Concat(sigs).Distinct(StringComparer.Ordinal);
            await using var write = connection.CreateCommand();
            write.Transaction = transaction;
            write.CommandText = "UPDATE ValidPaths SET sigs = $s WHERE path = $p";
            write.Parameters.AddWithValue("$s", string.Join(' ', merged));
            write.Parameters.AddWithValue("$p", path.FullPath);
            await write.ExecuteNonQueryAsync(cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
    }
}
