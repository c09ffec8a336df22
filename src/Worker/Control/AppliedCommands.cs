namespace BuildFarm.Worker.Control;

/// <summary>
/// The control commands this worker applied, by id, each remembered for as long as its age could still pass the
/// freshness check (so a replay is refused by one or the other), timed by the worker's monotonic clock. Bounded: past
/// <see cref="Capacity"/> live ids a further command is refused rather than an id forgotten early (only commands the
/// trusted dispatcher signed reach this, and it sends far fewer; a full memory is logged with every refusal).
/// </summary>
internal sealed class AppliedCommands(TimeProvider time)
{
    public const int Capacity = 100_000;

    private readonly Lock _gate = new();
    private readonly Dictionary<string, (long AppliedAt, long Until)> _ids = new(StringComparer.Ordinal);
    private readonly PriorityQueue<string, long> _expiry = new();

    public int Count
    {
        get
        {
            lock (_gate)
                return _ids.Count;
        }
    }

    /// <summary>
    /// Records <paramref name="id"/> as applied for <paramref name="remember"/>: null when it is new, otherwise why the
    /// command must not be applied (a replay, or a full memory).
    /// </summary>
    public string? TryRecord(string id, TimeSpan remember)
    {
        var now = time.GetTimestamp();
        lock (_gate)
        {
            while (_expiry.TryPeek(out var old, out var until) && until <= now)
            {
                _expiry.Dequeue();
                if (_ids.TryGetValue(old, out var entry) && entry.Until == until)
                    _ids.Remove(old);
            }

            if (_ids.TryGetValue(id, out var applied))
                return $"a replay: command {id} was applied {time.GetElapsedTime(applied.AppliedAt, now).TotalSeconds:0.#} s ago (ids are remembered while the command could pass the freshness check)";
            if (_ids.Count >= Capacity)
                return $"{Capacity} commands applied within the freshness window: no room to remember another id, so it cannot be told from a replay";
            var expires = now + (long)(remember.TotalSeconds * time.TimestampFrequency);
            _ids[id] = (now, expires);
            _expiry.Enqueue(id, expires);
            return null;
        }
    }
}
