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

    /// <summary>
    /// <paramref name="waiter"/>, or with null one direct submission's waiter, stops waiting; false when there was
    /// none still waiting. The row stays (with <c>left_at</c>), so the count of builds saved never shrinks.
    /// </summary>
    public static async Task<bool> LeaveAsync(DbSession s, Guid build, string? waiter, DateTimeOffset now)
    {
        if (waiter is not null)
        {
            return await s.ExecuteAsync("UPDATE build_waiters SET left_at = $now WHERE build_id = $b AND waiter = $w AND left_at IS NULL",
                ("$b", build.ToString()), ("$w", waiter), ("$now", BuildTable.Ms(now))) > 0;
        }

        return await s.ExecuteAsync(
            """
            UPDATE build_waiters SET left_at = $now WHERE rowid =
                (SELECT rowid FROM build_waiters WHERE build_id = $b AND waiter LIKE 'submit:%' AND left_at IS NULL LIMIT 1)
            """,
            ("$b", build.ToString()), ("$now", BuildTable.Ms(now))) > 0;
    }

    /// <summary>How many still wait for the build.</summary>
    public static async Task<int> WaitingAsync(DbSession s, Guid build) =>
        Convert.ToInt32(await s.ScalarAsync("SELECT COUNT(*) FROM build_waiters WHERE build_id = $b AND left_at IS NULL", ("$b", build.ToString())),
            System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Builds saved: requests that joined a build in flight, and requests answered from the origin store.</summary>
    public static async Task<(long Joined, long AlreadyValid)> SavedAsync(DbSession s) =>
        (Convert.ToInt64(await s.ScalarAsync("SELECT COUNT(*) FROM build_waiters WHERE joined = 1"), System.Globalization.CultureInfo.InvariantCulture),
         Convert.ToInt64(await s.ScalarAsync("SELECT COUNT(*) FROM builds WHERE reused = 1"), System.Globalization.CultureInfo.InvariantCulture));
}
