using System.Collections.Concurrent;
using System.Text.Json;
using BuildFarm.Contracts.Workers;
using BuildFarm.Messaging.Requests;
using Microsoft.Data.Sqlite;

namespace BuildFarm.Dispatcher.Lifecycle;

/// <summary>SQL over <c>workers</c>: every worker ever heard from, online or not (the registry).</summary>
internal static class WorkerTable
{
    public const string Online = "online";
    public const string Offline = "offline";

    public static Task UpsertAsync(DbSession s, WorkerStatusReported status, DateTimeOffset now) => s.ExecuteAsync(
        """
        INSERT INTO workers (name, capabilities, first_seen, last_seen, state, version, load, free_disk, draining, paused, note, isolation, isolation_reason)
        VALUES ($n, $c, $now, $now, 'online', $v, $l, $d, $dr, $p, $note, $iso, $isor)
        ON CONFLICT(name) DO UPDATE SET capabilities = $c, last_seen = $now, state = 'online', version = $v, load = $l,
            free_disk = $d, draining = $dr, paused = $p, note = $note, isolation = $iso, isolation_reason = $isor
        """,
        ("$n", status.WorkerName), ("$c", JsonSerializer.Serialize(status.Capabilities, MessagingJson.Options)), ("$now", BuildTable.Ms(now)),
        ("$v", status.Version), ("$l", status.Load), ("$d", status.FreeDiskBytes), ("$dr", status.Draining ? 1 : 0),
        ("$p", status.Paused ? 1 : 0), ("$note", status.Note), ("$iso", status.Isolation?.Isolation.ToString()), ("$isor", status.Isolation?.Reason));

    public static Task MarkOfflineAsync(DbSession s, string name, string reason) => s.ExecuteAsync(
        "UPDATE workers SET state = 'offline', note = $r WHERE name = $n", ("$n", name), ("$r", reason));

    public static Task CountAsync(DbSession s, string name, bool succeeded) => s.ExecuteAsync(
        succeeded ? "UPDATE workers SET builds_done = builds_done + 1 WHERE name = $n" : "UPDATE workers SET builds_failed = builds_failed + 1 WHERE name = $n",
        ("$n", name));

    public static Task<List<WorkerRecord>> ListAsync(DbSession s) => s.QueryAsync(
        "SELECT name, capabilities, first_seen, last_seen, state, version, load, free_disk, draining, paused, note, builds_done, builds_failed, isolation, isolation_reason FROM workers ORDER BY name",
        Read);

    /// <summary>
    /// The distinct capability sets of the workers ever seen, or with <paramref name="onlineSince"/> of those online and
    /// heard from since then (<see cref="Registry.CapacityCheck.IsOnline"/>). What a submission and a queued build's
    /// waiting reason need: a farm of many workers has few distinct sets, so this costs the same with 10 or 1,000 workers,
    /// where reading every worker row cost a JSON parse per worker per submission.
    /// </summary>
    public static async Task<IReadOnlyList<WorkerCapabilities>> CapabilitiesAsync(DbSession s, DateTimeOffset? onlineSince = null) =>
        (onlineSince is { } since
            ? await s.QueryAsync("SELECT DISTINCT capabilities FROM workers WHERE state = 'online' AND last_seen >= $since", r => r.GetString(0), ("$since", BuildTable.Ms(since)))
            : await s.QueryAsync("SELECT DISTINCT capabilities FROM workers", r => r.GetString(0)))
        .Select(ParseCapabilities).ToArray();

    public static async Task<DateTimeOffset?> LastSeenAsync(DbSession s, string name) =>
        (await s.QueryAsync("SELECT last_seen FROM workers WHERE name = $n", r => BuildTable.FromMs(r, 0), ("$n", name))).SingleOrDefault();

    private static WorkerRecord Read(SqliteDataReader r) => new(
        r.GetString(0), ParseCapabilities(r.GetString(1)),
        BuildTable.FromMs(r, 2)!.Value, BuildTable.FromMs(r, 3)!.Value, r.GetString(4), r.GetString(5), r.GetDouble(6),
        r.GetInt64(7), r.GetInt64(8) != 0, r.GetInt64(9) != 0, r.IsDBNull(10) ? null : r.GetString(10), r.GetInt32(11), r.GetInt32(12),
        BuildTable.ReadIsolation(r, 13) is { } isolation ? new WorkerIsolation(isolation, r.IsDBNull(14) ? "" : r.GetString(14)) : null);

    // Parsed capability sets by their stored JSON: the records are immutable, and a farm has few distinct sets (bounded
    // anyway: cleared when it grows past MaxParsed, e.g. with workers whose capabilities keep changing).
    private const int MaxParsed = 4096;
    private static readonly ConcurrentDictionary<string, WorkerCapabilities> Parsed = new(StringComparer.Ordinal);

    private static WorkerCapabilities ParseCapabilities(string json)
    {
        if (Parsed.TryGetValue(json, out var known))
            return known;
        if (Parsed.Count >= MaxParsed)
            Parsed.Clear();
        return Parsed[json] = JsonSerializer.Deserialize<WorkerCapabilities>(json, MessagingJson.Options)!;
    }
}
