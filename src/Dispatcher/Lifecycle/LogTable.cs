using System.Globalization;
using System.Text;

namespace BuildFarm.Dispatcher.Lifecycle;

/// <summary>
/// SQL over <c>logs</c>: bounded per build, keeping its head and its tail. Up to <c>maxBytes</c> everything is kept;
/// past it the first half of the budget stays (the head), one note row "… N bytes cut …" follows it, and the newest
/// chunks fill the other half (the tail), the oldest tail chunks being deleted as new ones come. <c>builds.log_bytes</c>
/// counts the bytes stored (the note aside), <c>log_cut_bytes</c> the bytes cut, <c>log_note_seq</c> the note's row.
/// </summary>
internal static class LogTable
{
    /// <summary>The note's <c>worker</c> and <c>worker_seq</c>: no worker has an empty name, so it never collides with a chunk.</summary>
    private const string NoteWorker = "";

    /// <summary>Appends a chunk; redelivered chunks (same attempt, worker and sequence) are ignored, also once cut.</summary>
    public static async Task AppendAsync(DbSession s, Guid build, int attempt, string worker, long workerSeq, string text, long maxBytes)
    {
        var id = build.ToString();
        var row = await s.QueryAsync("SELECT log_bytes, log_cut_bytes, log_note_seq FROM builds WHERE id = $b",
            r => (Bytes: r.GetInt64(0), Cut: r.GetInt64(1), Note: r.IsDBNull(2) ? (long?)null : r.GetInt64(2)), ("$b", id));
        if (row.Count == 0)
            return;
        s.Changed(build);
        var (bytes, cut, note) = row[0];
        // A worker sends its chunks in order: once the log is cut, a sequence at or below the newest stored one of
        // that attempt and worker is a redelivery (possibly of a chunk already cut), never news.
        var newest = await s.ScalarAsync("SELECT MAX(worker_seq) FROM logs WHERE build_id = $b AND attempt = $a AND worker = $w",
            ("$b", id), ("$a", attempt), ("$w", worker));
        var seen = note is null
            ? await s.ScalarAsync("SELECT 1 FROM logs WHERE build_id = $b AND attempt = $a AND worker = $w AND worker_seq = $q",
                ("$b", id), ("$a", attempt), ("$w", worker), ("$q", workerSeq)) is not null
            : newest is long n && workerSeq <= n;
        if (seen)
            return;
        // A NUL would end the text for C-string readers downstream (terminals, some SQLite and browser paths): keep the
        // rest of the chunk and mark the byte with U+FFFD, as a UTF-8 decoder marks other bytes it cannot show.
        text = text.Replace('\0', '\uFFFD');
        var size = Encoding.UTF8.GetByteCount(text);
        if (note is null && bytes + size <= maxBytes)
        {
            await InsertAsync(s, id, attempt, worker, workerSeq, text);
            await s.ExecuteAsync("UPDATE builds SET log_bytes = log_bytes + $n WHERE id = $b", ("$b", id), ("$n", size));
            return;
        }

        var head = maxBytes / 2;
        var tail = maxBytes - head;
        if (note is null)
        {
            // First time over: keep the chunks that fit in the head, cut the rest of what is stored, then the note.
            var rows = await s.QueryAsync("SELECT seq, text FROM logs WHERE build_id = $b ORDER BY seq", r => (Seq: r.GetInt64(0), Size: (long)Encoding.UTF8.GetByteCount(r.GetString(1))), ("$b", id));
            long kept = 0;
            foreach (var r in rows)
            {
                if (kept + r.Size <= head)
                {
                    kept += r.Size;
                    continue;
                }

                await s.ExecuteAsync("DELETE FROM logs WHERE seq = $s", ("$s", r.Seq));
                cut += r.Size;
            }

            bytes = kept;
            await s.ExecuteAsync(
                "INSERT INTO logs (build_id, attempt, worker, worker_seq, text) VALUES ($b, $a, $w, -1, '')",
                ("$b", id), ("$a", attempt), ("$w", NoteWorker));
            note = (long)(await s.ScalarAsync("SELECT last_insert_rowid()"))!;
            await s.ExecuteAsync("UPDATE builds SET log_truncated = 1, log_note_seq = $n WHERE id = $b", ("$b", id), ("$n", note));
        }

        if (size > tail)
        {
            var keep = LastBytes(text, tail);
            cut += size - Encoding.UTF8.GetByteCount(keep);
            text = keep;
            size = Encoding.UTF8.GetByteCount(keep);
        }

        // The tail: the oldest chunks after the note go until the new one fits.
        var tailRows = await s.QueryAsync("SELECT seq, text FROM logs WHERE build_id = $b AND seq > $n ORDER BY seq", r => (Seq: r.GetInt64(0), Size: (long)Encoding.UTF8.GetByteCount(r.GetString(1))), ("$b", id), ("$n", note));
        var stored = bytes;
        var tailBytes = tailRows.Sum(r => r.Size);
        foreach (var r in tailRows)
        {
            if (tailBytes + size <= tail)
                break;
            await s.ExecuteAsync("DELETE FROM logs WHERE seq = $s", ("$s", r.Seq));
            tailBytes -= r.Size;
            stored -= r.Size;
            cut += r.Size;
        }

        await InsertAsync(s, id, attempt, worker, workerSeq, text);
        await s.ExecuteAsync("UPDATE logs SET text = $t WHERE seq = $n",
            ("$n", note), ("$t", string.Create(CultureInfo.InvariantCulture, $"\n[buildfarm: … {cut} bytes cut (log over {maxBytes} bytes: its head and tail are kept) …]\n")));
        await s.ExecuteAsync("UPDATE builds SET log_bytes = $s, log_cut_bytes = $c WHERE id = $b", ("$b", id), ("$s", stored + size), ("$c", cut));
    }

    public static Task<List<LogChunk>> ReadAsync(DbSession s, Guid build, long after, int limit) => s.QueryAsync(
        "SELECT seq, attempt, worker, text FROM logs WHERE build_id = $b AND seq > $after ORDER BY seq LIMIT $n",
        r => new LogChunk(r.GetInt64(0), r.GetInt32(1), r.GetString(2), r.GetString(3)),
        ("$b", build.ToString()), ("$after", after), ("$n", limit));

    private static Task<int> InsertAsync(DbSession s, string id, int attempt, string worker, long workerSeq, string text) => s.ExecuteAsync(
        "INSERT OR IGNORE INTO logs (build_id, attempt, worker, worker_seq, text) VALUES ($b, $a, $w, $q, $t)",
        ("$b", id), ("$a", attempt), ("$w", worker), ("$q", workerSeq), ("$t", text));

    /// <summary>The longest suffix of <paramref name="text"/> of at most <paramref name="max"/> UTF-8 bytes (never half a surrogate pair).</summary>
    private static string LastBytes(string text, long max)
    {
        long total = 0;
        var start = text.Length;
        while (start > 0)
        {
            var width = char.IsLowSurrogate(text[start - 1]) && start > 1 ? 2 : 1;
            var bytes = Encoding.UTF8.GetByteCount(text.AsSpan(start - width, width));
            if (total + bytes > max)
                break;
            total += bytes;
            start -= width;
        }

        return text[start..];
    }
}
