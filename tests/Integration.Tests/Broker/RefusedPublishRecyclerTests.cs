using System.Collections.Concurrent;
using BuildFarm.Messaging.Broker;
using BuildFarm.Testing;
using MassTransit;
using MassTransit.RabbitMqTransport;
using MassTransit.RabbitMqTransport.Configuration;
using MassTransit.Transports;
using Microsoft.Extensions.DependencyInjection;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;
using PublishException = RabbitMQ.Client.Exceptions.PublishException;

namespace BuildFarm.Integration.Tests.Broker;

/// <summary>A refused publish makes a real MassTransit bus replace its connection, and the bus goes on publishing and consuming.</summary>
public sealed class RefusedPublishRecyclerTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Publish_BrokerNacks_BusReconnectsOnANewConnectionAndDeliversAgain()
    {
        await using var broker = await RabbitMqServer.StartNewAsync();
        var received = new ConcurrentQueue<int>();
        var services = new ServiceCollection();
        services.AddMassTransit(x => x.UsingRabbitMq((context, cfg) =>
        {
            cfg.ConfigureHost(new BrokerOptions { Uri = broker.AmqpUri }, "recycler-test");
            cfg.ReplaceRefusingChannels(context);
            cfg.ReceiveEndpoint($"recycler.{Guid.NewGuid():N}", e =>
            {
                e.AutoDelete = true;
                e.Durable = false;
                e.Handler<RecyclerPing>(c =>
                {
                    received.Enqueue(c.Message.N);
                    return Task.CompletedTask;
                });
            });
        }));
        await using var provider = services.BuildServiceProvider();
        var bus = provider.GetRequiredService<IBusControl>();
        await bus.StartAsync(new CancellationTokenSource(Wait).Token);
        try
        {
            await bus.Publish(new RecyclerPing(1));
            await WaitForAsync(() => received.Contains(1), "ping 1 before the refusal");
            var before = await LocalPortAsync(provider);

            // A queue that nacks every publish (reject-publish at length 0), bound to RefusedPing's exchange as
            // MassTransit declares it: a real broker refusal, seen by the observer on one of MassTransit's own retries.
            await BindRefuserAsync(broker.AmqpUri);
            using (var refusedBudget = new CancellationTokenSource(TimeSpan.FromSeconds(10)))
                await Assert.ThrowsAnyAsync<Exception>(() => bus.Publish(new RefusedPing(), refusedBudget.Token));
            await WaitForAsync(async () => await LocalPortAsync(provider) != before, $"the bus to leave its connection (local port {before})");

            await bus.Publish(new RecyclerPing(2));
            await WaitForAsync(() => received.Contains(2), "ping 2 on the new connection (publish and receive endpoint both back)");
        }
        finally
        {
            await bus.StopAsync(new CancellationTokenSource(Wait).Token);
        }
    }

    [Fact]
    public async Task PublishFault_TimeoutOrReturn_KeepsTheConnection()
    {
        await using var broker = await RabbitMqServer.StartNewAsync();
        var services = new ServiceCollection();
        services.AddMassTransit(x => x.UsingRabbitMq((context, cfg) => cfg.ConfigureHost(new BrokerOptions { Uri = broker.AmqpUri }, "recycler-test")));
        await using var provider = services.BuildServiceProvider();
        var bus = provider.GetRequiredService<IBusControl>();
        await bus.StartAsync(new CancellationTokenSource(Wait).Token);
        try
        {
            var before = await LocalPortAsync(provider);
            var recycler = new RefusedPublishRecycler(provider, new PublishRefusals(TimeProvider.System, TimeSpan.Zero), Serilog.Log.Logger);

            await recycler.PublishFault<RecyclerPing>(null!, new TimeoutException());
            await recycler.PublishFault<RecyclerPing>(null!, new PublishException(4, isReturn: true));
            // Had a close been started, it would have happened by the time the broker answers a new publish.
            await bus.Publish(new RecyclerPing(3));

            Assert.Equal(before, await LocalPortAsync(provider));
        }
        finally
        {
            await bus.StopAsync(new CancellationTokenSource(Wait).Token);
        }
    }

    private static async Task BindRefuserAsync(string amqpUri)
    {
        var factory = new ConnectionFactory { Uri = new Uri(amqpUri) };
        await using var connection = await factory.CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();
        var exchange = typeof(RefusedPing).Namespace + ":" + nameof(RefusedPing);
        await channel.ExchangeDeclareAsync(exchange, ExchangeType.Fanout, durable: true, autoDelete: false);
        var queue = $"refuser.{Guid.NewGuid():N}";
        await channel.QueueDeclareAsync(queue, durable: false, exclusive: false, autoDelete: false,
            new Dictionary<string, object?> { ["x-max-length"] = 0, ["x-overflow"] = "reject-publish" });
        await channel.QueueBindAsync(queue, exchange, "");
    }

    /// <summary>The local port of the bus's current connection: a new connection has a new one.</summary>
    private static async Task<int> LocalPortAsync(IServiceProvider provider)
    {
        var host = (IRabbitMqHostConfiguration)provider.GetRequiredService<IBusInstance>().HostConfiguration;
        var port = 0;
        await host.ConnectionContextSupervisor.Send(Pipe.Execute<ConnectionContext>(c => port = c.Connection.LocalPort), new CancellationTokenSource(Wait).Token);
        return port;
    }

    private static Task WaitForAsync(Func<bool> condition, string what) => WaitForAsync(() => Task.FromResult(condition()), what);

    private static async Task WaitForAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow + Wait;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"waited {Wait} for {what}");
            await Task.Delay(100);
        }
    }
}

public sealed record RecyclerPing(int N);

public sealed record RefusedPing;
