using BuildFarm.Messaging.Routing;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace BuildFarm.Worker.Consuming;

/// <summary>
/// One class queue consumed on its own channel with prefetch 1 and consumer priority round(speedFactor*100):
/// RabbitMQ gives a message to a lower-priority consumer only when every higher-priority one is busy or gone.
/// </summary>
internal sealed class ClassConsumer(BuildClass buildClass, IChannel channel, int priority) : IAsyncDisposable
{
    public BuildClass Class { get; } = buildClass;

    public IChannel Channel { get; } = channel;

    public AsyncEventingBasicConsumer Consumer { get; } = new(channel);

    /// <summary>Null while cancelled (paused).</summary>
    public string? Tag { get; private set; }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (Tag is not null)
            return;
        var args = new Dictionary<string, object?> { ["x-priority"] = priority };
        Tag = await Channel.BasicConsumeAsync(Class.QueueName, autoAck: false, consumerTag: "", noLocal: false, exclusive: false,
            arguments: args, consumer: Consumer, cancellationToken: cancellationToken);
    }

    /// <summary>
    /// Cancels the consumer; deliveries already received stay ackable on the open channel. If the cancel fails (the
    /// connection is down), the consumer is still recorded for topology recovery and comes back with the
    /// connection, so it stays marked as consuming and the next reconcile cancels it again.
    /// </summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (Tag is not { } tag)
            return;
        await Channel.BasicCancelAsync(tag, noWait: false, cancellationToken);
        Tag = null;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await Channel.CloseAsync();
        }
        catch (Exception e) when (e is RabbitMQ.Client.Exceptions.AlreadyClosedException or OperationCanceledException or IOException)
        {
        }

        Channel.Dispose();
    }
}
