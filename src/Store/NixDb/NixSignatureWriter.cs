using BuildFarm.Store.Local;
using BuildFarm.Store.Paths;
using Microsoft.Data.Sqlite;

namespace BuildFarm.Store.NixDb;

/// <summary>
/// Adds signatures (and content addresses) to valid paths of Nix's database: the writes BuildFarm makes to it
/// directly, because Nix 2.8 has no command that records a given signature (<c>nix store sign</c> needs the secret
/// key, <c>copy-sigs</c> a substituter) or content address (<c>--register-validity</c> reads none). It touches only
/// the <c>sigs</c> column (space-separated, as Nix writes it), merging with what is there, and a <c>ca</c> column that
/// is still empty, each in one short transaction that waits for nix-daemon's writers (busy timeout) instead of failing.
/// </summary>
internal static class NixSignatureWriter
{
    private const int BusyTimeoutSeconds = 60;

    /// <summary>Sets <c>ca</c> of paths that have none (a crash before this leaves them valid without it, as before).</summary>
    public static async Task SetContentAddressesAsync(string databaseFile, IReadOnlyDictionary<StorePath, string> contentAddresses, CancellationToken cancellationToken)
    {
        if (contentAddresses.Count == 0)
            return;
        await using var connection = new SqliteConnection(ConnectionString(databaseFile));
        await connection.OpenAsync(cancellationToken);
        await using var transaction = connection.BeginTransaction(deferred: false);
        foreach (var (path, ca) in contentAddresses)
        {
            await using var write = connection.CreateCommand();
            write.Transaction = transaction;
            write.CommandText = "UPDATE ValidPaths SET ca = $ca WHERE path = $p AND (ca IS NULL OR ca = '')";
            write.Parameters.AddWithValue("$ca", ca);
            write.Parameters.AddWithValue("$p", path.FullPath);
            await write.ExecuteNonQueryAsync(cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
    }

    /// <summary>A read-write connection to Nix's database that waits for nix-daemon's writers (busy timeout) instead of failing.</summary>
    internal static string ConnectionString(string databaseFile) => new SqliteConnectionStringBuilder
    {
        DataSource = databaseFile,
        Mode = SqliteOpenMode.ReadWrite,
        Pooling = true,
        DefaultTimeout = BusyTimeoutSeconds,
    }.ToString();

    public static async Task AddAsync(string databaseFile, IReadOnlyDictionary<StorePath, IReadOnlyList<string>> signatures, CancellationToken cancellationToken)
    {
        if (signatures.Values.All(s => s.Count == 0))
            return;
        await using var connection = new SqliteConnection(ConnectionString(databaseFile));
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
