using RabbitMQ.Client;

namespace BuildFarm.Messaging.Routing;

/// <summary>
/// Declares the build-request topology on a raw RabbitMQ channel: the direct build exchange, the dead-letter fanout
/// exchange and its quorum queue, and one quorum queue per class bound by its key. Every declaration is idempotent
/// (same arguments from <see cref="BrokerTopology"/>), so dispatcher and workers both call it before use.
/// </summary>
public static class BuildTopologyDeclarer
{
    public static async Task DeclareExchangesAsync(IChannel channel, CancellationToken cancellationToken)
    {
        await channel.ExchangeDeclareAsync(BrokerTopology.DeadLetterExchange, ExchangeType.Fanout, durable: true, autoDelete: false, cancellationToken: cancellationToken);
        await channel.QueueDeclareAsync(BrokerTopology.DeadLetterQueue, durable: true, exclusive: false, autoDelete: false,
            arguments: BrokerTopology.DeadLetterQueueArguments(), cancellationToken: cancellationToken);
        await channel.QueueBindAsync(BrokerTopology.DeadLetterQueue, BrokerTopology.DeadLetterExchange, "", cancellationToken: cancellationToken);
        await channel.ExchangeDeclareAsync(BrokerTopology.BuildExchange, ExchangeType.Direct, durable: true, autoDelete: false, cancellationToken: cancellationToken);
    }

    /// <summary>Declares (idempotently) the class's quorum queue and binds it to the build exchange by its key.</summary>
    public static async Task DeclareClassAsync(IChannel channel, BuildClass buildClass, CancellationToken cancellationToken)
    {
        await channel.QueueDeclareAsync(buildClass.QueueName, durable: true, exclusive: false, autoDelete: false,
            arguments: BrokerTopology.BuildQueueArguments(), cancellationToken: cancellationToken);
        await channel.QueueBindAsync(buildClass.QueueName, BrokerTopology.BuildExchange, buildClass.Key, cancellationToken: cancellationToken);
    }
}
