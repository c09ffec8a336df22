namespace BuildFarm.Hook.Protocol;

/// <summary>
/// Bounds how long one hook process keeps postponing a derivation (a farm whose broker is down, or whose capable
/// workers all went silent, must not hold the user's build forever): after <paramref name="limit"/> since the
/// first postpone of a derivation, its postpone becomes a decline that says how long it waited. The daemon keeps
/// one hook process while it declines and postpones, so the budget lives as long as that conversation.
/// </summary>
public sealed class PostponeBudget(TimeProvider time, TimeSpan limit)
{
    private readonly Dictionary<string, DateTimeOffset> _firstPostpone = new(StringComparer.Ordinal);

    public TimeSpan Limit => limit;

    public HookDecision Apply(string drvPath, HookDecision decision)
    {
        if (decision.Verdict != HookVerdict.Postpone)
        {
            _firstPostpone.Remove(drvPath);
            return decision;
        }

        var now = time.GetUtcNow();
        if (!_firstPostpone.TryGetValue(drvPath, out var first))
            _firstPostpone[drvPath] = first = now;
        if (now - first < limit)
            return decision;
        _firstPostpone.Remove(drvPath);
        return decision with
        {
            Verdict = HookVerdict.Decline,
            Reason = $"declined after postponing for {(now - first).TotalSeconds:0} s (limit {limit.TotalSeconds:0} s): {decision.Reason}",
        };
    }
}
