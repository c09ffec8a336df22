namespace BuildFarm.Dispatcher.Lifecycle;

/// <summary>
/// SQL over <c>build_waiters</c>: who waits for a build's result. A build runs while anyone waits; it is cancelled
/// only when the last waiter leaves.
/// </summary>
internal static class WaiterTable
{
    /// <summary>Waiters of direct submissions (API) start with this; graphs' with <see cref="GraphPrefix"/>.</summary>
    public const string SubmitPrefix = "submit:";

    public const string HookPrefix = "hook:";

    public const string GraphPrefix = "graph:";

    /// <summary>Idempotent: a graph that resubmits its node after a crash is still one waiter.</summary>
    public static Task AddAsync(DbSession s, Guid build, string waiter, bool joined) => s.ExecuteAsync(
        "INSERT OR IGNORE INTO build_waiters (build_id, waiter, joined) VALUES ($b, $w, $j)",
        ("$b", build.ToString()), ("$w", waiter), ("$j", joined ? 1 : 0));

    /// <summary>Removes <paramref name="waiter"/>, or with null one direct submission's waiter; false when there was none.</summary>
    public static async Task<bool> RemoveAsync(DbSession s, Guid build, string? waiter)
    {
        if (waiter is not null)
            return await s.ExecuteAsync("DELETE FROM build_waiters WHERE build_id = $b AND waiter = $w", ("$b", build.ToString()), ("$w", waiter)) > 0;
        return await s.ExecuteAsync(
            "DELETE FROM build_waiters WHERE rowid = (SELECT rowid FROM build_waiters WHERE build_id = $b AND waiter LIKE 'submit:%' LIMIT 1)",
            ("$b", build.ToString())) > 0;
    }

    public static async Task<int> CountAsync(DbSession s, Guid build) =>
        Convert.ToInt32(await s.ScalarAsync("SELECT COUNT(*) FROM build_waiters WHERE build_id = $b", ("$b", build.ToString())), System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Builds saved: requests that joined a build in flight, and requests answered from the origin store.</summary>
    public static async Task<(long Joined, long AlreadyValid)> SavedAsync(DbSession s) =>
        (Convert.ToInt64(await s.ScalarAsync("SELECT COUNT(*) FROM build_waiters WHERE joined = 1"), System.Globalization.CultureInfo.InvariantCulture),
         Convert.ToInt64(await s.ScalarAsync("SELECT COUNT(*) FROM builds WHERE reused = 1"), System.Globalization.CultureInfo.InvariantCulture));
}
