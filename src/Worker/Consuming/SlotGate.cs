namespace BuildFarm.Worker.Consuming;

/// <summary>The worker-wide count of free build slots; <see cref="Changed"/> fires on every take and release.</summary>
internal sealed class SlotGate(int slots)
{
    private int _free = slots;

    public event Action? Changed;

    public int Slots { get; } = slots;

    public int Free => Volatile.Read(ref _free);

    public bool TryTake()
    {
        while (true)
        {
            var free = Volatile.Read(ref _free);
            if (free == 0)
                return false;
            if (Interlocked.CompareExchange(ref _free, free - 1, free) == free)
            {
                Changed?.Invoke();
                return true;
            }
        }
    }

    public void Release()
    {
        if (Interlocked.Increment(ref _free) > Slots)
            throw new InvalidOperationException("a build slot was released twice");
        Changed?.Invoke();
    }
}
