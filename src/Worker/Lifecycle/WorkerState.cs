namespace BuildFarm.Worker.Lifecycle;

/// <summary>
/// Whether the worker takes new builds. Draining is one-way (finish running builds, then exit); paused is undone
/// by ResumeWorker. A worker also pauses itself, apart from the operator's pause, while something it needs for any
/// build is missing (<see cref="SelfPauseKind"/>: its disk is full, its origin does not answer, its clock is behind
/// the dispatcher's); each such pause lifts when its watcher sees the cause gone, and ResumeWorker does not lift it
/// (nothing it could build would succeed). <see cref="Changed"/> fires after every change so the consumers follow.
/// </summary>
internal sealed class WorkerState
{
    private readonly Lock _lock = new();
    private readonly SortedDictionary<SelfPauseKind, string> _selfPauses = [];

    public event Action? Changed;

    public bool Draining { get; private set; }

    public bool Paused { get; private set; }

    public bool Aborting { get; private set; }

    public string? Note { get; private set; }

    public bool TakesBuilds
    {
        get
        {
            lock (_lock)
                return !Draining && !Paused && !Aborting && _selfPauses.Count == 0;
        }
    }

    /// <summary>What the heartbeat reports as paused: the operator's pause or one of the worker's own.</summary>
    public bool ReportedPaused
    {
        get
        {
            lock (_lock)
                return Paused || _selfPauses.Count > 0;
        }
    }

    /// <summary>
    /// The heartbeat's note: the operator's, then why the worker paused itself (<c>paused itself: disk full: …</c>), so
    /// /api/workers, the UI's Workers page and <c>buildfarm status</c> say it without a contract change.
    /// </summary>
    public string? ReportedNote
    {
        get
        {
            lock (_lock)
            {
                var parts = new List<string>();
                if (!string.IsNullOrEmpty(Note))
                    parts.Add(Note);
                parts.AddRange(_selfPauses.Select(p => $"paused itself: {p.Value}"));
                return parts.Count == 0 ? null : string.Join("; ", parts);
            }
        }
    }

    /// <summary>Whether the worker paused itself for <paramref name="kind"/>.</summary>
    public bool IsSelfPaused(SelfPauseKind kind)
    {
        lock (_lock)
            return _selfPauses.ContainsKey(kind);
    }

    /// <summary>False when already draining.</summary>
    public bool BeginDrain(string? note) => Set(() => !Draining, () => (Draining, Note) = (true, note ?? Note));

    public bool BeginAbort() => Set(() => !Aborting, () => Aborting = true);

    public void Pause(string? note) => Set(() => true, () => (Paused, Note) = (true, note));

    public void Resume() => Set(() => Paused, () => (Paused, Note) = (false, Draining ? Note : null));

    /// <summary>
    /// Stops claiming builds for <paramref name="kind"/>. True when it was not paused for it; the first reason stays
    /// until the pause lifts (a reason that changed at every check would wake the heartbeat each time).
    /// </summary>
    public bool PauseItself(SelfPauseKind kind, string reason) => Set(() => !_selfPauses.ContainsKey(kind), () => _selfPauses[kind] = reason);

    /// <summary>Lifts the pause for <paramref name="kind"/>. True when there was one.</summary>
    public bool ResumeItself(SelfPauseKind kind) => Set(() => _selfPauses.ContainsKey(kind), () => _selfPauses.Remove(kind));

    private bool Set(Func<bool> when, Action change)
    {
        lock (_lock)
        {
            if (!when())
                return false;
            change();
        }

        Changed?.Invoke();
        return true;
    }
}

/// <summary>Why a worker stopped claiming builds on its own.</summary>
internal enum SelfPauseKind
{
    /// <summary>The store's or build directory's file system is short of space (Store:PauseBelowFreeBytes).</summary>
    DiskFull,

    /// <summary>The origin a build needed did not answer through the whole retry budget.</summary>
    OriginUnreachable,

    /// <summary>A request arrived issued in this worker's future: its clock is behind the dispatcher's.</summary>
    ClockBehind,
}
