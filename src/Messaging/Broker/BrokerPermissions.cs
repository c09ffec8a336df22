using System.Text.RegularExpressions;
using BuildFarm.Contracts.Builds;
using BuildFarm.Contracts.Workers;
using BuildFarm.Messaging.Routing;

namespace BuildFarm.Messaging.Broker;

/// <summary>RabbitMQ's three permission regexes of one user in one virtual host (<c>rabbitmqctl set_permissions</c>).</summary>
public sealed record BrokerGrant(string Configure, string Write, string Read);

/// <summary>
/// The broker users of a farm and the narrowest permissions each role works with. RabbitMQ checks
/// <em>configure</em> to declare or delete a queue or exchange, <em>write</em> to publish to an exchange and on the
/// destination of a binding, <em>read</em> to consume from a queue and on the source exchange of a binding.
/// What each side declares: the build topology (<see cref="BrokerTopology"/>, both sides); MassTransit 8.5 one
/// fanout exchange per message type (<c>Namespace:Type</c>) for what a bus publishes or consumes, bound
/// exchange-to-exchange to the receive endpoint's exchange, and a queue and exchange per receive endpoint and for
/// the bus endpoint (whose name we pin instead of MassTransit's <c>HOST_PROCESS_bus_RANDOM</c>).
/// </summary>
public static class BrokerPermissions
{
    /// <summary>The dispatcher's durable receive endpoint, fed by every worker event.</summary>
    public const string DispatcherEventsEndpoint = "buildfarm.dispatcher.events";

    /// <summary>The dispatcher bus's own (temporary) endpoint.</summary>
    public const string DispatcherBusEndpoint = "buildfarm.dispatcher.bus";

    public const string DispatcherUser = "buildfarm-dispatcher";

    public const string MonitoringUser = "buildfarm-monitoring";

    /// <summary>Events only workers publish and only the dispatcher consumes.</summary>
    public static readonly IReadOnlyList<Type> WorkerEvents =
        [typeof(BuildStarted), typeof(BuildLogEmitted), typeof(BuildSucceeded), typeof(BuildFailed),
            typeof(WorkerStatusReported), typeof(WorkerWentOffline), typeof(WorkerProbed)];

    /// <summary>Commands only the dispatcher publishes and every worker consumes.</summary>
    public static readonly IReadOnlyList<Type> ControlCommands =
        [typeof(CancelBuild), typeof(DrainWorker), typeof(PauseWorker), typeof(ResumeWorker), typeof(ProbeWorkers)];

    public static string WorkerControlEndpoint(string worker) => $"buildfarm.worker.{worker}.control";

    public static string WorkerBusEndpoint(string worker) => $"buildfarm.worker.{worker}.bus";

    public static string WorkerUser(string worker) => "buildfarm-worker-" + worker;

    /// <summary>MassTransit's exchange name of a message type.</summary>
    public static string ExchangeOf(Type message) => $"{message.Namespace}:{message.Name}";

    /// <summary>
    /// Everything the farm's names start with; the dispatcher declares, publishes and consumes across all of it
    /// (it is the trusted side: it signs the requests).
    /// </summary>
    public static BrokerGrant Dispatcher()
    {
        var all = $"^({Regex.Escape("buildfarm.")}|{Regex.Escape(typeof(BuildStarted).Namespace! + ":")}|{Regex.Escape(typeof(DrainWorker).Namespace! + ":")}).*$";
        return new BrokerGrant(all, all, all);
    }

    /// <summary>
    /// One worker: declares the build topology it consumes from and its own endpoints; publishes only worker events
    /// (never to the build exchange, never a control command); reads its class queues, its endpoints and the
    /// command exchanges (to bind them, which needs read on the source). Configure includes delete in RabbitMQ,
    /// so a stolen worker could still delete a class queue or the shared exchanges it declares (docs/SECURITY.md).
    /// </summary>
    public static BrokerGrant Worker(string worker)
    {
        if (worker.Length == 0 || !worker.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
            throw new ArgumentException($"worker name '{worker}' is invalid: must be letters, digits, '-', '_' or '.'", nameof(worker));
        var classQueues = Regex.Escape(BrokerTopology.BuildQueuePrefix) + ".+";
        var own = Regex.Escape($"buildfarm.worker.{worker}.") + ".+";
        var events = string.Join('|', WorkerEvents.Select(t => Regex.Escape(ExchangeOf(t))));
        var commands = string.Join('|', ControlCommands.Select(t => Regex.Escape(ExchangeOf(t))));
        var shared = $"{Regex.Escape(BrokerTopology.BuildExchange)}|{Regex.Escape(BrokerTopology.DeadLetterExchange)}";
        var deadLetters = Regex.Escape(BrokerTopology.DeadLetterQueue);
        return new BrokerGrant(
            Configure: $"^({shared}|{deadLetters}|{classQueues}|{own}|{events}|{commands})$",
            // Write on the dead-letter exchange: RabbitMQ asks it of whoever declares a queue that dead-letters to it.
            Write: $"^({Regex.Escape(BrokerTopology.DeadLetterExchange)}|{deadLetters}|{classQueues}|{own}|{events})$",
            Read: $"^({shared}|{classQueues}|{own}|{commands})$");
    }

    /// <summary>The management UI's read-only user (tag <c>monitoring</c>): sees the virtual host, may touch nothing in it.</summary>
    public static BrokerGrant Monitoring() => new("^$", "^$", "^$");
}
