using BuildFarm.Messaging.Broker;
using BuildFarm.Messaging.Routing;
using BuildFarm.Worker.Configuration;
using BuildFarm.Worker.Execution;
using BuildFarm.Worker.Lifecycle;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using RabbitMQ.Client;
using Serilog;

namespace BuildFarm.Worker.Consuming;

/// <summary>
/// Takes build requests from every class queue this worker can run. Consumers run only while the worker takes
/// builds and has a free slot; a delivery that finds no free slot pauses all consumers first and is then
/// requeued, so the broker hands it to another consumer. Each delivery goes through <see cref="BuildClaim"/>.
/// </summary>
internal sealed class BuildQueueConsumer(
    IOptions<WorkerOptions> options,
    BuildClaim claim,
    SlotGate slots,
    WorkerState state,
    IsolationChoice isolation,
    RunningBuilds running,
    OfflineAnnouncer offline,
    TimeProvider time,
    ILogger logger) : IHostedService, IAsyncDisposable
{
    private readonly ILogger _log = logger.ForContext<BuildQueueConsumer>();
    private readonly SemaphoreSlim _reconcile = new(1, 1);
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<ClassConsumer> _consumers = [];

    /// <summary>
    /// Whether every class consumer is registered at the broker, none paused for a full slot: only then does the
    /// broker's consumer priority choose between this worker and a slower idle one (a worker that has just reported a
    /// result may still be resuming its consumers).
    /// </summary>
    internal bool AllConsuming => _consumers.Count > 0 && _consumers.TrueForAll(c => c.Tag is not null);
    private IConnection? _connection;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var o = options.Value;
        // ExecutorSelection started before us: an unsandboxed worker consumes only the trusted classes.
        var classes = CapabilityMatcher.EnumerateClasses(isolation.Capabilities(o));
        _connection = await BrokerConnections.ConnectAsync(o.Broker, $"buildfarm-worker {o.Name}", maxAttempts: 10, cancellationToken);
        // Topology recovery brings back the consumers that were registered when the connection dropped; a start or
        // cancel asked for during the outage failed and is retried by Follow, and once more here, so a slot freed
        // while the broker was away is offered again as soon as the connection is back.
        _connection.RecoverySucceededAsync += (_, _) =>
        {
            Follow();
            return Task.CompletedTask;
        };
        await using (var setup = await _connection.CreateChannelAsync(cancellationToken: cancellationToken))
            await BuildQueueDeclarations.DeclareExchangesAsync(setup, cancellationToken);
        var priority = (int)Math.Round(o.SpeedFactor * 100);
        foreach (var buildClass in classes)
        {
            var channel = await _connection.CreateChannelAsync(cancellationToken: cancellationToken);
            await channel.BasicQosAsync(0, 1, global: false, cancellationToken);
            await BuildQueueDeclarations.DeclareClassQueueAsync(channel, buildClass, cancellationToken);
            var consumer = new ClassConsumer(buildClass, channel, priority);
            consumer.Consumer.ReceivedAsync += (_, ea) => claim.OnDeliveryAsync(consumer, ea, ReconcileAfterRefusalAsync, _stopping.Token);
            _consumers.Add(consumer);
        }

        slots.Changed += Follow;
        state.Changed += Follow;
        await ReconcileAsync(cancellationToken);
        _log.Information("Consuming {ClassCount} classes ({Classes}) with {Slots} slots, priority {Priority}",
            classes.Count, string.Join(' ', classes.Select(c => c.Key)), o.Slots, priority);
    }

    /// <summary>Host shutdown without a finished drain is an abort: running builds are killed and reported.</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        slots.Changed -= Follow;
        state.Changed -= Follow;
        var aborted = running.Count > 0;
        if (aborted)
        {
            state.BeginAbort();
            foreach (var handle in running.Handles())
                handle.Cancel("worker aborted");
            try
            {
                // Each aborted build publishes BuildFailed(Infrastructure) so the dispatcher republishes it at once.
                await Task.WhenAll(running.Handles().Select(h => h.Completion)).WaitAsync(TimeSpan.FromSeconds(30), time, cancellationToken);
            }
            catch (TimeoutException)
            {
                _log.Warning("Aborted builds did not report within 30 s; their leases will expire");
            }
        }

        await _stopping.CancelAsync();
        await offline.AnnounceOnceAsync(aborted ? "aborted" : "stopped", cancellationToken);
        await DisposeAsync();
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var c in _consumers)
            await c.DisposeAsync();
        _consumers.Clear();
        if (_connection is not null)
        {
            await _connection.CloseAsync();
            _connection.Dispose();
            _connection = null;
        }
    }

    /// <summary>
    /// Converges in the background, retrying with backoff while the broker is unreachable: a reconcile that fails
    /// during an outage (the channel is closed or recovering) would otherwise leave the worker paused for good.
    /// </summary>
    private void Follow() => _ = Task.Run(async () =>
    {
        var delay = TimeSpan.FromMilliseconds(250);
        while (!_stopping.IsCancellationRequested)
        {
            try
            {
                await ReconcileAsync(_stopping.Token);
                return;
            }
            catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                _log.Warning("Could not start or cancel the build consumers ({Error}); retrying in {Delay}", e.Message, delay);
            }

            try
            {
                await Task.Delay(delay, time, _stopping.Token);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(5).Ticks));
        }
    });

    /// <summary>Brings every consumer to the wanted state: consuming iff taking builds and a slot is free.</summary>
    private async Task ReconcileAsync(CancellationToken cancellationToken)
    {
        await _reconcile.WaitAsync(cancellationToken);
        try
        {
            var wanted = state.TakesBuilds && slots.Free > 0;
            foreach (var c in _consumers)
            {
                if (wanted)
                    await c.StartAsync(cancellationToken);
                else
                    await c.StopAsync(cancellationToken);
            }
        }
        finally
        {
            _reconcile.Release();
        }
    }

    /// <summary>Stops every consumer after a refused delivery, then converges again.</summary>
    private async Task ReconcileAfterRefusalAsync(CancellationToken ct)
    {
        await _reconcile.WaitAsync(ct);
        try
        {
            foreach (var c in _consumers)
                await c.StopAsync(ct);
        }
        finally
        {
            _reconcile.Release();
        }

        // A slot may have freed between the refusal and the pause: converge again.
        Follow();
    }
}
