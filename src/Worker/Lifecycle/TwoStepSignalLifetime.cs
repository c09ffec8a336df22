using System.Runtime.InteropServices;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace BuildFarm.Worker.Lifecycle;

/// <summary>
/// Replaces the console lifetime: the first SIGTERM/SIGINT drains (the process exits 0 once running builds
/// finished), the second aborts. Stop the host any other way and the running builds are aborted.
/// </summary>
internal sealed class TwoStepSignalLifetime(IServiceProvider services) : IHostLifetime, IDisposable
{
    private readonly List<PosixSignalRegistration> _registrations = [];
    private int _signals;

    public Task WaitForStartAsync(CancellationToken cancellationToken)
    {
        foreach (var signal in new[] { PosixSignal.SIGTERM, PosixSignal.SIGINT })
            _registrations.Add(PosixSignalRegistration.Create(signal, OnSignal));
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public void Dispose()
    {
        foreach (var r in _registrations)
            r.Dispose();
    }

    private void OnSignal(PosixSignalContext context)
    {
        context.Cancel = true;
        var drain = services.GetRequiredService<DrainCoordinator>();
        if (Interlocked.Increment(ref _signals) == 1)
            drain.BeginDrain($"{context.Signal}; send it again to abort running builds");
        else
            drain.Abort($"second {context.Signal}");
    }
}
