namespace BuildFarm.Worker.Lifecycle;

/// <summary>
/// Whether the worker takes new builds. Draining is one-way (finish running builds, then exit); paused is undone
/// by ResumeWorker. <see cref="Changed"/> fires after every change so the consumers follow.
/// </summary>
internal sealed class WorkerState
{
    private readonly Lock _lock = new();

    public event Action? Changed;

    public bool Draining { get; private set; }

    public bool Paused { get; private set; }

    public bool Aborting { get; private set; }

    public string? Note { get; private set; }

    public bool TakesBuilds => !Draining && !Paused && !Aborting;

    /// <summary>False when already draining.</summary>
    public bool BeginDrain(string? note) => Set(() => !Draining, () => (Draining, Note) = (true, note ?? Note));

    public bool BeginAbort() => Set(() => !Aborting, () => Aborting = true);

    public void Pause(string? note) => Set(() => true, () => (Paused, Note) = (true, note));

    public void Resume() => Set(() => Paused, () => (Paused, Note) = (false, Draining ? Note : null));

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
