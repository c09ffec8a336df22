using BuildFarm.Store.Local;
using BuildFarm.Store.Paths;
using BuildFarm.Worker.Configuration;
using Microsoft.Extensions.Options;

namespace BuildFarm.Worker.Storage;

/// <summary>
/// The worker's own <see cref="LocalStore"/>: pulled inputs are imported into it, builders write their outputs into it
/// and outputs are registered and served from it. Opened once on first use and shared by every build and slot.
/// </summary>
internal sealed class WorkerStore(IOptions<WorkerOptions> options, TimeProvider time) : IDisposable
{
    private readonly SemaphoreSlim _open = new(1, 1);
    private LocalStore? _store;

    public StoreLayout Layout { get; } = StoreLayout.Create(options.Value.Store.StoreDir, options.Value.Store.Root);

    public async Task<LocalStore> GetAsync(CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _store) is { } open)
            return open;
        await _open.WaitAsync(cancellationToken);
        try
        {
            return _store ??= await LocalStore.OpenAsync(Layout, time, cancellationToken);
        }
        finally
        {
            _open.Release();
        }
    }

    public void Dispose() => _open.Dispose();
}
