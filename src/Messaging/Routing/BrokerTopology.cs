namespace BuildFarm.Messaging.Routing;

/// <summary>
/// Names and arguments of everything BuildFarm declares on RabbitMQ. Dispatcher and workers both declare what
/// they use (declarations are idempotent only when the arguments are identical, so they all come from here).
/// </summary>
public static class BrokerTopology
{
    /// <summary>Direct exchange; routing key = <see cref="BuildClass.Key"/>.</summary>
    public const string BuildExchange = "buildfarm.builds";

    public const string BuildQueuePrefix = "buildfarm.build.";

    /// <summary>Fanout exchange that rejected build requests are dead-lettered to.</summary>
    public const string DeadLetterExchange = "buildfarm.dead";

    /// <summary>Quorum queue holding dead-lettered requests for inspection.</summary>
    public const string DeadLetterQueue = "buildfarm.dead-letters";

    /// <summary>Arguments of every build class queue: durable quorum queue, rejected messages dead-lettered.</summary>
    public static IDictionary<string, object?> BuildQueueArguments() => new Dictionary<string, object?>
    {
        ["x-queue-type"] = "quorum",
        ["x-dead-letter-exchange"] = DeadLetterExchange,
    };

    public static IDictionary<string, object?> DeadLetterQueueArguments() => new Dictionary<string, object?>
    {
        ["x-queue-type"] = "quorum",
    };
}
