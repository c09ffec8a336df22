using System.Text;

namespace BuildFarm.Dispatcher.Lifecycle;

/// <summary>
/// GET /api/builds/search query: every filter optional; <see cref="Name"/> matches a substring of the drv path.
/// <see cref="Sort"/>: <c>time</c> (submitted, default), <c>name</c> (derivation name without the hash) or <c>state</c>;
/// <see cref="OldestFirst"/> makes it ascending. <see cref="Since"/> (inclusive) and <see cref="Until"/> (exclusive)
/// bound the submission time.
/// </summary>
public sealed record BuildQuery(string? State, string? System, string? Worker, string? Name, int Offset, int Limit, bool OldestFirst = false, string? Sort = null)
{
    public DateTimeOffset? Since { get; init; }

    public DateTimeOffset? Until { get; init; }
}

/// <summary>One row of the builds table in the UI (no drv text, attempts or outputs: those are on the build's page).</summary>
public sealed record BuildSummary(
    Guid Id, string DrvPath, string System, string Features, string State, int Attempt, string? Worker, int Priority,
    DateTimeOffset SubmittedAt, DateTimeOffset? StartedAt, DateTimeOffset? FinishedAt, string? FailureReason,
    bool Trusted = false, string? Isolation = null);

/// <summary>Filtered, paged SQL over <c>builds</c>, newest first (or oldest first).</summary>
internal static class BuildSearch
{
    /// <summary>The page <paramref name="q"/> asks for and how many builds matched in all.</summary>
    public static async Task<(long Total, List<BuildSummary> Items)> SearchAsync(DbSession s, BuildQuery q)
    {
        var where = new StringBuilder("1 = 1");
        var p = new List<(string, object?)>();
        void Add(string clause, string name, string? value)
        {
            if (string.IsNullOrWhiteSpace(value))
                return;
            where.Append(" AND ").Append(clause);
            p.Add((name, value.Trim()));
        }

        Add("state = $state", "$state", q.State);
        Add("system = $system", "$system", q.System);
        Add("worker = $worker", "$worker", q.Worker);
        Add("instr(drv_path, $name) > 0", "$name", q.Name);
        if (q.Since is { } since)
        {
            where.Append(" AND submitted_at >= $since");
            p.Add(("$since", BuildTable.Ms(since)));
        }

        if (q.Until is { } until)
        {
            where.Append(" AND submitted_at < $until");
            p.Add(("$until", BuildTable.Ms(until)));
        }

        var total = (long)(await s.ScalarAsync($"SELECT COUNT(*) FROM builds WHERE {where}", p.ToArray()) ?? 0L);
        p.Add(("$limit", q.Limit));
        p.Add(("$offset", q.Offset));
        var items = await s.QueryAsync(
            $"""
            SELECT id, drv_path, system, features, state, attempt, worker, priority, submitted_at, started_at, finished_at, failure_reason,
                trusted, isolation
            FROM builds WHERE {where} ORDER BY {OrderBy(q)} LIMIT $limit OFFSET $offset
            """,
            r => new BuildSummary(Guid.Parse(r.GetString(0)), r.GetString(1), r.GetString(2), r.GetString(3), r.GetString(4), r.GetInt32(5),
                r.IsDBNull(6) ? null : r.GetString(6), r.GetInt32(7), BuildTable.FromMs(r, 8)!.Value, BuildTable.FromMs(r, 9),
                BuildTable.FromMs(r, 10), r.IsDBNull(11) ? null : r.GetString(11), r.GetInt64(12) != 0,
                BuildTable.ReadIsolation(r, 13)?.ToString().ToLowerInvariant()),
            p.ToArray());
        return (total, items);
    }

    /// <summary>Whitelisted columns only (never user text in SQL); ties broken by submission so paging is stable.</summary>
    private static string OrderBy(BuildQuery q)
    {
        var dir = q.OldestFirst ? "ASC" : "DESC";
        var then = $"submitted_at {dir}, rowid {dir}";
        return q.Sort switch
        {
            // drv_path = store_dir + '/' + 32-character hash + '-' + name: the name starts 35 characters after store_dir.
            "name" => $"substr(drv_path, length(store_dir) + 35) {dir}, {then}",
            "state" => $"state {dir}, {then}",
            _ => then,
        };
    }
}
