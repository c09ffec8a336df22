using BuildFarm.Messaging.Broker;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;

namespace BuildFarm.Dispatcher.Events;

/// <summary>The dispatcher's MassTransit bus: one durable receive endpoint for every worker and build event.</summary>
internal static class EventsRegistration
{
    /// <summary>Durable, so events published while the dispatcher is down wait for it; a quorum queue, so on a cluster
    /// the events survive the loss of any minority of nodes (a classic queue lives on one node: with that node down,
    /// events routed to it would be dropped).</summary>
    public const string EndpointName = BrokerPermissions.DispatcherEventsEndpoint;

    public static IServiceCollection AddDispatcherEvents(this IServiceCollection services, BrokerOptions broker)
    {
        services.AddMassTransit(x =>
        {
            x.AddConsumer<BuildStartedConsumer>();
            x.AddConsumer<BuildLogEmittedConsumer>();
            x.AddConsumer<BuildSucceededConsumer>();
            x.AddConsumer<BuildFailedConsumer>();
            x.AddConsumer<BuildRequestExpiredConsumer>();
            x.AddConsumer<WorkerStatusReportedConsumer>();
            x.AddConsumer<WorkerWentOfflineConsumer>();
            x.AddConsumer<WorkerProbedConsumer>();
            x.UsingRabbitMq((context, cfg) =>
            {
                cfg.ConfigureHost(broker, "buildfarm-dispatcher");
                // Control commands (cancel, drain, probe) must get through after a broker node dies (issue #18).
                cfg.ReplaceRefusingChannels(context);
                // A fixed name instead of MassTransit's HOST_PROCESS_bus_RANDOM, so the dispatcher's broker user needs no wildcard.
                cfg.OverrideDefaultBusEndpointQueueName(BrokerPermissions.DispatcherBusEndpoint);
                cfg.ReceiveEndpoint(EndpointName, e =>
                {
                    e.SetQuorumQueue();
                    // One at a time, in queue order: a worker's BuildStarted is handled before its result, and its
                    // log chunks stay in order. The lifecycle serialises on SQLite anyway.
                    e.PrefetchCount = 64;
                    e.PublishFaults = false;
                    e.ConcurrentMessageLimit = 1;
                    e.UseMessageRetry(r => r.Interval(5, TimeSpan.FromMilliseconds(500)));
                    e.ConfigureConsumers(context);
                });
            });
        });
        services.AddSingleton<MassTransitControlPublisher>();
        return services;
    }
}
