using MassTransit;
using MassTransit.RabbitMqTransport;
using MassTransit.RabbitMqTransport.Configuration;
using MassTransit.Transports;
using Microsoft.Extensions.DependencyInjection;
using RabbitMQ.Client;
using Serilog;

namespace BuildFarm.Messaging.Broker;

/// <summary>
/// Replaces a MassTransit bus's broker connection when the broker refuses a publish (see <see cref="PublishRefusals"/>).
/// MassTransit 8.5 publishes every message of a bus on one shared channel and, on a nack, retries on that same channel
/// (it drops only its topology cache), so a channel stuck after a quorum-queue failover would refuse the worker's
/// results and heartbeats until the dead node came back. Closing the connection is what a node failure does anyway:
/// MassTransit reconnects (the next node of the cluster), opens new channels, restarts the receive endpoints and
/// retries the publish in flight. An observer sees every failed attempt, including those MassTransit retries itself.
/// </summary>
public sealed class RefusedPublishRecycler(IServiceProvider services, PublishRefusals refusals, ILogger logger) : IPublishObserver
{
    private readonly ILogger _log = logger.ForContext<RefusedPublishRecycler>();

    /// <summary>Closes the bus's current connection; MassTransit opens a new one on its next use.</summary>
    public async Task RecycleAsync(string reason, CancellationToken cancellationToken)
    {
        // Resolved here, not at construction: the observer is created while the bus itself is being built.
        if (services.GetRequiredService<IBusInstance>().HostConfiguration is not IRabbitMqHostConfiguration host)
            return;
        await host.ConnectionContextSupervisor.Send(Pipe.ExecuteAsync<ConnectionContext>(async context =>
        {
            _log.Warning("Broker refused a publish ({Reason}): closing the bus connection to {Endpoint} so that new channels replace the refusing one",
                reason, context.Connection.Endpoint.ToString());
            await context.Connection.CloseAsync(Constants.ConnectionForced, "buildfarm: replacing a channel the broker refuses publishes on",
                TimeSpan.FromSeconds(5), abort: true, cancellationToken);
        }), cancellationToken);
    }

    public Task PublishFault<T>(PublishContext<T> context, Exception exception)
        where T : class
    {
        if (refusals.ShouldReplace(exception))
        {
            // Not awaited: this runs inside the refused send, which holds the channel that closing the connection stops.
            _ = Task.Run(async () =>
            {
                try
                {
                    using var budget = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                    await RecycleAsync($"{typeof(T).Name}: {exception.GetBaseException().Message}", budget.Token);
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    _log.Warning(e, "Could not replace the bus connection after a refused publish; MassTransit keeps retrying");
                }
            }, CancellationToken.None);
        }

        return Task.CompletedTask;
    }

    public Task PrePublish<T>(PublishContext<T> context)
        where T : class => Task.CompletedTask;

    public Task PostPublish<T>(PublishContext<T> context)
        where T : class => Task.CompletedTask;
}
