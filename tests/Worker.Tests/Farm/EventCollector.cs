using System.Collections.Concurrent;
using BuildFarm.Contracts.Builds;
using BuildFarm.Contracts.Workers;
using BuildFarm.Messaging.Broker;
using MassTransit;

namespace BuildFarm.Worker.Tests.Farm;

/// <summary>
/// The dispatcher's side of the event traffic, for tests: subscribes to every worker event on a temporary queue
/// and publishes control commands. Waits name what they waited for.
/// </summary>
internal sealed class EventCollector : IAsyncDisposable
{
    private readonly ConcurrentQueue<object> _events = new();
    private readonly SemaphoreSlim _arrived = new(0);
    private IBusControl? _bus;

    public IReadOnlyList<object> Events => [.. _events];

    public IEnumerable<T> OfType<T>() => _events.OfType<T>();

    public static async Task<EventCollector> StartAsync(string amqpUri, CancellationToken cancellationToken = default)
    {
        var collector = new EventCollector();
        var bus = Bus.Factory.CreateUsingRabbitMq(cfg =>
        {
            cfg.ConfigureHost(new BrokerOptions { Uri = amqpUri }, "test collector");
            cfg.ReceiveEndpoint($"test.collector.{Guid.NewGuid():N}", e =>
            {
                e.AutoDelete = true;
                e.Durable = false;
                e.Handler<BuildStarted>(c => collector.Add(c.Message));
                e.Handler<BuildSucceeded>(c => collector.Add(c.Message));
                e.Handler<BuildFailed>(c => collector.Add(c.Message));
                e.Handler<BuildRequestExpired>(c => collector.Add(c.Message));
                e.Handler<BuildLogEmitted>(c => collector.Add(c.Message));
                e.Handler<WorkerStatusReported>(c => collector.Add(c.Message));
                e.Handler<WorkerWentOffline>(c => collector.Add(c.Message));
            });
        });
        await bus.StartAsync(cancellationToken);
        collector._bus = bus;
        return collector;
    }

    public Task PublishAsync<T>(T message)
        where T : class => _bus!.Publish(message);

    /// <summary>Waits until an event of type <typeparamref name="T"/> matching <paramref name="match"/> arrived.</summary>
    public async Task<T> WaitForAsync<T>(Func<T, bool> match, string what, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(60));
        while (true)
        {
            var found = _events.OfType<T>().FirstOrDefault(match);
            if (found is not null)
                return found;
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero)
                throw new TimeoutException($"waited {timeout ?? TimeSpan.FromSeconds(60)} for {what}; got {_events.Count} events: {Summary()}");
            await _arrived.WaitAsync(left < TimeSpan.FromSeconds(1) ? left : TimeSpan.FromSeconds(1));
        }
    }

    /// <summary>Waits for the terminal event (succeeded or failed) of a build.</summary>
    public Task<object> WaitForResultAsync(Guid buildId, string what, TimeSpan? timeout = null) =>
        WaitForAsync<object>(e => e is BuildSucceeded s && s.BuildId == buildId || e is BuildFailed f && f.BuildId == buildId, what, timeout);

    public async ValueTask DisposeAsync()
    {
        if (_bus is not null)
            await _bus.StopAsync();
    }

    private Task Add(object message)
    {
        _events.Enqueue(message);
        _arrived.Release();
        return Task.CompletedTask;
    }

    private string Summary() => string.Join("; ", _events.Where(e => e is not WorkerStatusReported).TakeLast(20).Select(e => e.ToString()));
}
