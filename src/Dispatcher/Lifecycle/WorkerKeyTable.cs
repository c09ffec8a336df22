namespace BuildFarm.Dispatcher.Lifecycle;

/// <summary>SQL over <c>worker_keys</c>: which trusted key speaks for which worker name.</summary>
internal static class WorkerKeyTable
{
    /// <summary>The bound key (<c>name:base64</c>), or null when the name is not bound yet.</summary>
    public static async Task<string?> GetAsync(DbSession s, string worker) =>
        (await s.QueryAsync("SELECT public_key FROM worker_keys WHERE name = $n", r => r.GetString(0), ("$n", worker))).SingleOrDefault();

    /// <summary>Binds (or, after the old key was revoked, rebinds) <paramref name="worker"/> to <paramref name="publicKey"/>.</summary>
    public static Task BindAsync(DbSession s, string worker, string publicKey, DateTimeOffset now) => s.ExecuteAsync(
        "INSERT INTO worker_keys (name, public_key, bound_at) VALUES ($n, $k, $now) ON CONFLICT(name) DO UPDATE SET public_key = $k, bound_at = $now",
        ("$n", worker), ("$k", publicKey), ("$now", BuildTable.Ms(now)));
}
