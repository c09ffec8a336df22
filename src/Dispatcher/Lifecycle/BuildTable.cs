using BuildFarm.Contracts.Builds;
using Microsoft.Data.Sqlite;

namespace BuildFarm.Dispatcher.Lifecycle;

/// <summary>SQL over <c>builds</c>.</summary>
internal static class BuildTable
{
    private const string Columns = """
        id, drv_path, drv_text, store_dir, system, features, wanted_outputs, state, attempt, published, worker,
        lease_expires_at, priority, timeout_ms, max_silent_ms, wait_for_capacity, failure_kind, failure_reason,
        exit_code, submitted_at, published_at, started_at, finished_at, log_truncated, trusted, isolation
        """;

    public static long Ms(DateTimeOffset t) => t.ToUnixTimeMilliseconds();

    public static DateTimeOffset? FromMs(SqliteDataReader r, int i) =>
        r.IsDBNull(i) ? null : DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(i));

    public static Task InsertAsync(DbSession s, BuildRecord b) => s.ExecuteAsync(
        """
        INSERT INTO builds (id, drv_path, drv_text, store_dir, system, features, wanted_outputs, state, attempt, published,
            priority, timeout_ms, max_silent_ms, wait_for_capacity, submitted_at, trusted)
        VALUES ($id, $drv, $text, $sd, $sys, $feat, $outs, $state, $attempt, 0, $prio, $to, $ms, $wait, $at, $trusted)
        """,
        ("$id", b.Id.ToString()), ("$drv", b.DrvPath), ("$text", b.DrvText), ("$sd", b.StoreDir), ("$sys", b.System),
        ("$feat", string.Join(' ', b.Features)), ("$outs", string.Join(' ', b.WantedOutputs)), ("$state", b.State),
        ("$attempt", b.Attempt), ("$prio", b.Priority), ("$to", (long)b.Timeout.TotalMilliseconds),
        ("$ms", (long)b.MaxSilentTime.TotalMilliseconds), ("$wait", b.WaitForCapacity ? 1 : 0), ("$at", Ms(b.SubmittedAt)),
        ("$trusted", b.Trusted ? 1 : 0));

    public static async Task<BuildRecord?> GetAsync(DbSession s, Guid id) =>
        (await s.QueryAsync($"SELECT {Columns} FROM builds WHERE id = $id", Read, ("$id", id.ToString()))).SingleOrDefault();

    public static Task<List<BuildRecord>> ListAsync(DbSession s, string where, params (string, object?)[] p) =>
        s.QueryAsync($"SELECT {Columns} FROM builds WHERE {where} ORDER BY priority DESC, submitted_at", Read, p);

    public static Task<List<BuildRecord>> RecentAsync(DbSession s, int limit) =>
        s.QueryAsync($"SELECT {Columns} FROM builds ORDER BY submitted_at DESC LIMIT $n", Read, ("$n", limit));

    /// <param name="s">The session.</param>
    /// <param name="id">The build.</param>
    /// <param name="attempt">The attempt published.</param>
    /// <param name="issuedAt">The confirmed copy's signed issue time (<c>SignedBuildRequest.IssuedAt</c>), which tells
    /// the copy last published from older ones when a worker refuses one as expired.</param>
    public static Task MarkPublishedAsync(DbSession s, Guid id, int attempt, DateTimeOffset issuedAt) => s.ExecuteAsync(
        "UPDATE builds SET published = 1, published_at = $now WHERE id = $id AND attempt = $a AND state = 'queued'",
        ("$id", id.ToString()), ("$a", attempt), ("$now", Ms(issuedAt)));

    /// <summary>True while <paramref name="attempt"/> of the build is queued and no copy of it is confirmed published.</summary>
    public static async Task<bool> IsUnpublishedAsync(DbSession s, Guid id, int attempt) =>
        await s.ScalarAsync("SELECT 1 FROM builds WHERE id = $id AND attempt = $a AND state = 'queued' AND published = 0",
            ("$id", id.ToString()), ("$a", attempt)) is not null;

    /// <summary>The queued attempt must be published again (its last copy expired); the sweep does it if we cannot.</summary>
    public static Task<int> MarkUnpublishedAsync(DbSession s, Guid id, int attempt) => s.ExecuteAsync(
        "UPDATE builds SET published = 0 WHERE id = $id AND attempt = $a AND state = 'queued' AND published = 1",
        ("$id", id.ToString()), ("$a", attempt));

    public static Task ClaimAsync(DbSession s, Guid id, string worker, DateTimeOffset startedAt, DateTimeOffset lease, BuildIsolation? isolation) => s.ExecuteAsync(
        "UPDATE builds SET state = 'running', worker = $w, started_at = $st, lease_expires_at = $lease, isolation = $iso WHERE id = $id",
        ("$id", id.ToString()), ("$w", worker), ("$st", Ms(startedAt)), ("$lease", Ms(lease)), ("$iso", isolation?.ToString()));

    public static Task RenewLeaseAsync(DbSession s, Guid id, int attempt, string worker, DateTimeOffset lease) => s.ExecuteAsync(
        "UPDATE builds SET lease_expires_at = $lease WHERE id = $id AND attempt = $a AND worker = $w AND state = 'running'",
        ("$id", id.ToString()), ("$a", attempt), ("$w", worker), ("$lease", Ms(lease)));

    /// <summary>Back to queued as a new, not yet published attempt.</summary>
    public static Task RequeueAsync(DbSession s, Guid id, int nextAttempt) => s.ExecuteAsync(
        "UPDATE builds SET state = 'queued', attempt = $a, published = 0, published_at = NULL, worker = NULL, lease_expires_at = NULL, started_at = NULL, isolation = NULL WHERE id = $id",
        ("$id", id.ToString()), ("$a", nextAttempt));

    /// <summary>
    /// Ends the build in <paramref name="state"/>; a non-null <paramref name="worker"/> (the one that reported the end)
    /// is recorded as its worker, null keeps the recorded one.
    /// </summary>
    public static async Task FinishAsync(DbSession s, Guid id, string state, string? kind, string? reason, int? exitCode, string? worker, DateTimeOffset now)
    {
        s.Ended(id);
        // Apart, and only when it differs: a column in an UPDATE's SET rewrites the index entries over it even when its
        // value stays, and the worker reporting a result is nearly always the one already recorded (builds_worker).
        if (worker is not null)
            await s.ExecuteAsync("UPDATE builds SET worker = $w WHERE id = $id AND worker IS NOT $w", ("$id", id.ToString()), ("$w", worker));
        await s.ExecuteAsync(
            """
            UPDATE builds SET state = $state, failure_kind = $kind, failure_reason = $reason, exit_code = $code,
                lease_expires_at = NULL, finished_at = $now WHERE id = $id
            """,
            ("$id", id.ToString()), ("$state", state), ("$kind", kind), ("$reason", reason), ("$code", exitCode), ("$now", Ms(now)));
    }

    /// <summary>
    /// The oldest queued or running build of <paramref name="drvPath"/> that makes at least <paramref name="outputs"/>
    /// under the same trust (a trusted build may run unsandboxed: an untrusted request does not join it, nor the reverse).
    /// </summary>
    public static async Task<BuildRecord?> FindOpenAsync(DbSession s, string drvPath, string storeDir, bool trusted, IReadOnlyList<string> outputs)
    {
        var open = await s.QueryAsync(
            $"SELECT {Columns} FROM builds WHERE drv_path = $drv AND state IN ('queued', 'running') AND store_dir = $sd AND trusted = $t ORDER BY submitted_at",
            Read, ("$drv", drvPath), ("$sd", storeDir), ("$t", trusted ? 1 : 0));
        return open.FirstOrDefault(b => outputs.All(b.WantedOutputs.Contains));
    }

    /// <summary>Marks a build that never ran because its outputs were valid in the origin store.</summary>
    public static Task MarkReusedAsync(DbSession s, Guid id) =>
        s.ExecuteAsync("UPDATE builds SET reused = 1 WHERE id = $id", ("$id", id.ToString()));

    private static BuildRecord Read(SqliteDataReader r) => new(
        Guid.Parse(r.GetString(0)), r.GetString(1), r.GetString(2), r.GetString(3), r.GetString(4),
        Split(r.GetString(5)), Split(r.GetString(6)), r.GetString(7), r.GetInt32(8), r.GetInt64(9) != 0,
        r.IsDBNull(10) ? null : r.GetString(10), FromMs(r, 11), r.GetInt32(12),
        TimeSpan.FromMilliseconds(r.GetInt64(13)), TimeSpan.FromMilliseconds(r.GetInt64(14)), r.GetInt64(15) != 0,
        r.IsDBNull(16) ? null : r.GetString(16), r.IsDBNull(17) ? null : r.GetString(17), r.IsDBNull(18) ? null : r.GetInt32(18),
        FromMs(r, 19)!.Value, FromMs(r, 20), FromMs(r, 21), FromMs(r, 22), r.GetInt64(23) != 0,
        r.GetInt64(24) != 0, ReadIsolation(r, 25));

    /// <summary>A stored isolation; null (unknown) for NULL or a name this version does not know.</summary>
    public static BuildIsolation? ReadIsolation(SqliteDataReader r, int i) =>
        !r.IsDBNull(i) && Enum.TryParse<BuildIsolation>(r.GetString(i), out var isolation) ? isolation : null;

    private static string[] Split(string s) => s.Split(' ', StringSplitOptions.RemoveEmptyEntries);
}
