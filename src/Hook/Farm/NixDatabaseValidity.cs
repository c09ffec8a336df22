using System.Runtime.InteropServices;

namespace BuildFarm.Hook.Farm;

/// <summary>
/// Reads validity from Nix's database (<c>$NIX_STATE_DIR/db/db.sqlite</c>, <c>/nix/var/nix</c> by default) through
/// the machine's own <c>libsqlite3</c> (the library Nix itself links), read-only: a few hundred microseconds
/// instead of a <c>nix-store</c> process (~20 ms of CPU, mostly linking Nix's libraries) per hook build. A path it
/// finds valid is valid; anything else (a path it does not find, no library, no database, a store directory of its
/// own) is asked of <see cref="NixStoreValidity"/>, which stays the authority, so a wrong guess of the database can
/// only send the question to Nix. The daemon checks the outputs itself after the hook exits in any case.
/// </summary>
public sealed class NixDatabaseValidity(string databaseFile, IStoreValidity authority) : IStoreValidity
{
    private const int OpenReadOnly = 0x1;
    private const int Row = 100;
    private const int Done = 101;

    /// <summary>The database of the default store, or null when another store is in use (<c>NIX_STORE_DIR</c> set).</summary>
    public static string? DefaultDatabase(Func<string, string?> environment) =>
        environment("NIX_STORE_DIR") is { Length: > 0 } dir && dir.TrimEnd('/') != "/nix/store"
            ? null
            : Path.Combine(environment("NIX_STATE_DIR") is { Length: > 0 } state ? state : "/nix/var/nix", "db", "db.sqlite");

    public async Task<IReadOnlyList<string>> InvalidAsync(IReadOnlyList<string> paths, CancellationToken cancellationToken)
    {
        if (paths.Count == 0)
            return [];
        var notFound = NotFound(paths);
        return notFound is { Count: 0 } ? [] : await authority.InvalidAsync(notFound ?? paths, cancellationToken);
    }

    /// <summary>The paths the database does not list; null when it cannot be read.</summary>
    private List<string>? NotFound(IReadOnlyList<string> paths)
    {
        try
        {
            if (!File.Exists(databaseFile))
                return null;
            if (Sqlite.Open(databaseFile, out var db, OpenReadOnly, null) != 0)
            {
                _ = Sqlite.Close(db);
                return null;
            }

            try
            {
                _ = Sqlite.BusyTimeout(db, 10_000);
                if (Sqlite.Prepare(db, "SELECT 1 FROM ValidPaths WHERE path = ?", -1, out var statement, 0) != 0)
                    return null;
                try
                {
                    var missing = new List<string>();
                    foreach (var path in paths)
                    {
                        _ = Sqlite.Reset(statement);
                        if (Sqlite.BindText(statement, 1, path, -1, -1) != 0)
                            return null;
                        var step = Sqlite.Step(statement);
                        if (step != Row && step != Done)
                            return null;
                        if (step == Done)
                            missing.Add(path);
                    }

                    return missing;
                }
                finally
                {
                    _ = Sqlite.Finalize(statement);
                }
            }
            finally
            {
                _ = Sqlite.Close(db);
            }
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static class Sqlite
    {
        private const string Library = "libsqlite3.so.0";

        [DllImport(Library, EntryPoint = "sqlite3_open_v2")]
        public static extern int Open([MarshalAs(UnmanagedType.LPUTF8Str)] string file, out nint db, int flags, [MarshalAs(UnmanagedType.LPUTF8Str)] string? vfs);

        [DllImport(Library, EntryPoint = "sqlite3_close_v2")]
        public static extern int Close(nint db);

        [DllImport(Library, EntryPoint = "sqlite3_busy_timeout")]
        public static extern int BusyTimeout(nint db, int milliseconds);

        [DllImport(Library, EntryPoint = "sqlite3_prepare_v2")]
        public static extern int Prepare(nint db, [MarshalAs(UnmanagedType.LPUTF8Str)] string sql, int bytes, out nint statement, nint tail);

        // The last argument -1 is SQLITE_TRANSIENT: SQLite copies the text before the marshalled buffer is freed.
        [DllImport(Library, EntryPoint = "sqlite3_bind_text")]
        public static extern int BindText(nint statement, int index, [MarshalAs(UnmanagedType.LPUTF8Str)] string text, int bytes, nint destructor);

        [DllImport(Library, EntryPoint = "sqlite3_step")]
        public static extern int Step(nint statement);

        [DllImport(Library, EntryPoint = "sqlite3_reset")]
        public static extern int Reset(nint statement);

        [DllImport(Library, EntryPoint = "sqlite3_finalize")]
        public static extern int Finalize(nint statement);
    }
}
