using RabbitMQ.Client;

namespace BuildFarm.Messaging.Routing;

/// <summary>
/// Declares the build-request topology with the arguments from <see cref="BrokerTopology"/>: both sides call
/// this (declarations are idempotent only with identical arguments), so queue arguments never diverge.
/// </summary>
public static class BuildQueueDeclarations
{
    /// <summary>The build exchange, the dead-letter exchange and its queue.</summary>
    public static async Task DeclareExchangesAsync(IChannel channel, CancellationToken cancellationToken)
    {
        await channel.ExchangeDeclareAsync(BrokerTopology.BuildExchange, ExchangeType.Direct, durable: true, autoDelete: false, cancellationToken: cancellationToken);
        await channel.ExchangeDeclareAsync(BrokerTopology.DeadLetterExchange, ExchangeType.Fanout, durable: true, autoDelete: false, cancellationToken: cancellationToken);
        await channel.QueueDeclareAsync(BrokerTopology.DeadLetterQueue, durable: true, exclusive: false, autoDelete: false,
            arguments: BrokerTopology.DeadLetterQueueArguments(), cancellationToken: cancellationToken);
        await channel.QueueBindAsync(BrokerTopology.DeadLetterQueue, BrokerTopology.DeadLetterExchange, routingKey: "", cancellationToken: cancellationToken);
    }

    /// <summary>The durable quorum queue of one class, bound to the build exchange under the class key.</summary>
    public static async Task DeclareClassQueueAsync(IChannel channel, BuildClass buildClass, CancellationToken cancellationToken)
    {
        await channel.QueueDeclareAsync(buildClass.QueueName, durable: true, exclusive: false, autoDelete: false,
            arguments: BrokerTopology.BuildQueueArguments(), cancellationToken: cancellationToken);
        await channel.QueueBindAsync(buildClass.QueueName, BrokerTopology.BuildExchange, buildClass.Key, cancellationToken: cancellationToken);
    }
}
