using System.Globalization;
using BuildFarm.Store.Local;
using BuildFarm.Store.Paths;
using Microsoft.Data.Sqlite;

namespace BuildFarm.Store.NixDb;

/// <summary>
/// Makes paths valid in Nix's database with the rows Nix 2.8's own <c>registerValidPaths</c> writes (schema 10:
/// <c>ValidPaths</c> with <c>sha256:</c>+base16 NAR hash, registration time, deriver, NAR size, signatures and content
/// address; <c>Refs</c>), in one SQLite transaction, instead of spawning <c>nix-store --register-validity</c> per
/// import: that process costs ~20 ms of CPU (mostly the dynamic linking of Nix's libraries) against well under one
/// here, and the signatures land in the same transaction instead of a second one. Only for databases whose
/// <c>schema</c> file says 10 and batches without derivations (a <c>.drv</c> also needs <c>DerivationOutputs</c>
/// rows and Nix's invariant check: those go through <c>nix-store</c>). Like every Nix process, the writer holds the
/// big lock shared, so a schema upgrade (which takes it exclusively) never runs beneath it.
/// </summary>
internal static class NixRegistration
{
    /// <summary>The database schema of Nix 2.8 (<c>nixSchemaVersion</c>), the only one written directly.</summary>
    public const int SchemaVersion = 10;

    /// <summary>True when <paramref name="databaseFile"/>'s schema is the one this writer knows and no path is a derivation.</summary>
    public static bool CanRegister(string databaseFile, IEnumerable<ValidPathInfo> infos)
    {
        var schemaFile = Path.Combine(Path.GetDirectoryName(databaseFile) ?? ".", "schema");
        try
        {
            if (!int.TryParse(File.ReadAllText(schemaFile).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var version) || version != SchemaVersion)
                return false;
        }
        catch (IOException)
        {
            return false;
        }

        return infos.All(i => !i.Path.IsDerivation);
    }

    /// <summary>
    /// Registers <paramref name="infos"/> (their references valid or in the batch, checked by the caller) in one
    /// transaction; paths already valid are left as they are, as <c>nix-store --register-validity</c> does. Either
    /// every row commits or none does.
    /// </summary>
    public static async Task RegisterAsync(string databaseFile, IReadOnlyList<ValidPathInfo> infos, DateTimeOffset now, CancellationToken cancellationToken)
    {
        using var bigLock = await AcquireBigLockShared(databaseFile, cancellationToken);
        await using var connection = new SqliteConnection(NixSignatureWriter.ConnectionString(databaseFile));
        await connection.OpenAsync(cancellationToken);
        await using var transaction = connection.BeginTransaction(deferred: false);
        var ids = new Dictionary<StorePath, long>();
        var added = new List<ValidPathInfo>();
        foreach (var info in infos)
        {
            if (await IdAsync(connection, transaction, info.Path, cancellationToken) is not null)
                continue;
            await using var insert = connection.CreateCommand();
            insert.Transaction = transaction;
            insert.CommandText = """
                INSERT INTO ValidPaths (path, hash, registrationTime, deriver, narSize, ultimate, sigs, ca)
                VALUES ($path, $hash, $time, $deriver, $size, NULL, $sigs, $ca) RETURNING id
                """;
            insert.Parameters.AddWithValue("$path", info.Path.FullPath);
            insert.Parameters.AddWithValue("$hash", "sha256:" + info.NarHash.ToHex());
            insert.Parameters.AddWithValue("$time", now.ToUnixTimeSeconds());
            insert.Parameters.AddWithValue("$deriver", (object?)info.Deriver?.FullPath ?? DBNull.Value);
            insert.Parameters.AddWithValue("$size", info.NarSize == 0 ? DBNull.Value : info.NarSize);
            insert.Parameters.AddWithValue("$sigs", info.Signatures.Count == 0 ? DBNull.Value : string.Join(' ', info.Signatures));
            insert.Parameters.AddWithValue("$ca", (object?)info.ContentAddress ?? DBNull.Value);
            ids[info.Path] = (long)(await insert.ExecuteScalarAsync(cancellationToken))!;
            added.Add(info);
        }

        foreach (var info in added)
        {
            foreach (var reference in info.References)
            {
                var target = ids.TryGetValue(reference, out var id) ? id
                    : await IdAsync(connection, transaction, reference, cancellationToken)
                      ?? throw new StoreException($"path '{info.Path}' references '{reference}', which is not valid in Nix's database {databaseFile}");
                await using var refs = connection.CreateCommand();
                refs.Transaction = transaction;
                refs.CommandText = "INSERT OR IGNORE INTO Refs (referrer, reference) VALUES ($from, $to)";
                refs.Parameters.AddWithValue("$from", ids[info.Path]);
                refs.Parameters.AddWithValue("$to", target);
                await refs.ExecuteNonQueryAsync(cancellationToken);
            }
        }

        await transaction.CommitAsync(cancellationToken);
    }

    private static async Task<long?> IdAsync(SqliteConnection connection, SqliteTransaction transaction, StorePath path, CancellationToken cancellationToken)
    {
        await using var query = connection.CreateCommand();
        query.Transaction = transaction;
        query.CommandText = "SELECT id FROM ValidPaths WHERE path = $p";
        query.Parameters.AddWithValue("$p", path.FullPath);
        return await query.ExecuteScalarAsync(cancellationToken) is long id ? id : null;
    }

    /// <summary>
    /// <c>db/big-lock</c> held shared (flock, as Nix's LocalStore holds it for its whole life; .NET maps a shareable
    /// read-only open to <c>LOCK_SH</c>). Only a schema upgrade holds it exclusively: wait for it, polling.
    /// </summary>
    private static async Task<FileStream> AcquireBigLockShared(string databaseFile, CancellationToken cancellationToken)
    {
        var file = Path.Combine(Path.GetDirectoryName(databaseFile) ?? ".", "big-lock");
        while (true)
        {
            try
            {
                return new FileStream(file, FileMode.OpenOrCreate, FileAccess.Read, FileShare.ReadWrite);
            }
            catch (IOException) when (File.Exists(file))
            {
                await Task.Delay(TimeSpan.FromMilliseconds(100), cancellationToken);
            }
        }
    }
}
