using System.Text;

namespace BuildFarm.Dispatcher.Lifecycle;

/// <summary>SQL over <c>logs</c>: bounded per build; past the bound one truncation note is stored and the rest dropped.</summary>
internal static class LogTable
{
    /// <summary>Appends a chunk; redelivered chunks (same attempt, worker and sequence) are ignored.</summary>
    public static async Task AppendAsync(DbSession s, Guid build, int attempt, string worker, long workerSeq, string text, long maxBytes)
    {
        var row = await s.QueryAsync("SELECT log_bytes, log_truncated FROM builds WHERE id = $b",
            r => (Bytes: r.GetInt64(0), Truncated: r.GetInt64(1) != 0), ("$b", build.ToString()));
        if (row.Count == 0 || row[0].Truncated)
            return;
        var seen = await s.ScalarAsync("SELECT 1 FROM logs WHERE build_id = $b AND attempt = $a AND worker = $w AND worker_seq = $q",
            ("$b", build.ToString()), ("$a", attempt), ("$w", worker), ("$q", workerSeq));
        if (seen is not null)
            return;
        // A NUL would end the text for C-string readers downstream (terminals, some SQLite and browser paths): keep the
        // rest of the chunk and mark the byte with U+FFFD, as a UTF-8 decoder marks other bytes it cannot show.
        text = text.Replace('\0', '\uFFFD');
        var size = Encoding.UTF8.GetByteCount(text);
        if (row[0].Bytes + size > maxBytes)
        {
            text = $"\n[buildfarm: log truncated: more than {maxBytes} bytes]\n";
            await s.ExecuteAsync("UPDATE builds SET log_truncated = 1 WHERE id = $b", ("$b", build.ToString()));
        }

        var inserted = await s.ExecuteAsync(
            "INSERT OR IGNORE INTO logs (build_id, attempt, worker, worker_seq, text) VALUES ($b, $a, $w, $q, $t)",
            ("$b", build.ToString()), ("$a", attempt), ("$w", worker), ("$q", workerSeq), ("$t", text));
        if (inserted > 0)
            await s.ExecuteAsync("UPDATE builds SET log_bytes = log_bytes + $n WHERE id = $b", ("$b", build.ToString()), ("$n", size));
    }

    public static Task<List<LogChunk>> ReadAsync(DbSession s, Guid build, long after, int limit) => s.QueryAsync(
        "SELECT seq, attempt, worker, text FROM logs WHERE build_id = $b AND seq > $after ORDER BY seq LIMIT $n",
        r => new LogChunk(r.GetInt64(0), r.GetInt32(1), r.GetString(2), r.GetString(3)),
        ("$b", build.ToString()), ("$after", after), ("$n", limit));
}
