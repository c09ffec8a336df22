using System.Text;
using BuildFarm.Contracts.Builds;
using BuildFarm.Contracts.Workers;
using BuildFarm.Messaging.Broker;
using BuildFarm.Messaging.Routing;
using BuildFarm.Testing;
using RabbitMQ.Client;

namespace BuildFarm.Integration.Tests.Broker;

/// <summary>A private node with a farm's per-role users (<see cref="BrokerDefinitions"/>): workers w1 and w2, the dispatcher, monitoring.</summary>
public sealed class BrokerRolesNode : IAsyncLifetime, IDisposable
{
    private readonly TempDirectory _dir = new("broker-roles");

    internal RabbitMqServer Server { get; private set; } = null!;

    internal string Secrets => _dir.Combine("users");

    public async Task InitializeAsync()
    {
        Server = await RabbitMqServer.StartNewAsync();
        await BrokerUsers.CreateAsync(Server, Secrets,
            BrokerDefinitions.Dispatcher(), BrokerDefinitions.Worker("w1"), BrokerDefinitions.Worker("w2"), BrokerDefinitions.Monitoring());
    }

    internal Task<IConnection> ConnectAsync(string user) =>
        BrokerConnections.ConnectAsync(BrokerUsers.Options(Server, Secrets, user), "test " + user, 1, CancellationToken.None);

    public async Task DisposeAsync()
    {
        if (Server is not null)
            await Server.DisposeAsync();
    }

    public void Dispose() => _dir.Dispose();
}

/// <summary>
/// Issue 15 against real RabbitMQ permissions: a worker's broker credentials cannot publish a build request or a
/// control command (the broker closes the channel with ACCESS_REFUSED), while what a worker does still works.
/// </summary>
public sealed class BrokerRolesTests(BrokerRolesNode node) : IClassFixture<BrokerRolesNode>
{
    private static readonly BuildClass Class = new("roles-linux", []);

    [Fact]
    public async Task WorkerUser_PublishesBuildRequest_AccessRefusedAndNothingQueued()
    {
        await using var dispatcher = await node.ConnectAsync(BrokerPermissions.DispatcherUser);
        await using (var setup = await dispatcher.CreateChannelAsync())
        {
            await BuildQueueDeclarations.DeclareExchangesAsync(setup, CancellationToken.None);
            await BuildQueueDeclarations.DeclareClassQueueAsync(setup, Class, CancellationToken.None);
        }

        await using var worker = await node.ConnectAsync(BrokerPermissions.WorkerUser("w1"));
        // Through the build exchange as the dispatcher publishes, and straight to the class queue by the default exchange.
        await AssertRefusedAsync(worker, ch => Publish(ch, BrokerTopology.BuildExchange, Class.Key), "exchange 'buildfarm.builds'");
        await AssertRefusedAsync(worker, ch => Publish(ch, "", Class.QueueName), "exchange 'amq.default'");

        var queues = await node.Server.CtlAsync(["list_queues", "name", "messages"]);
        Assert.Contains($"{Class.QueueName}\t0", queues.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WorkerUser_PublishesControlCommand_AccessRefused()
    {
        await using var dispatcher = await node.ConnectAsync(BrokerPermissions.DispatcherUser);
        await using (var setup = await dispatcher.CreateChannelAsync())
        {
            foreach (var command in BrokerPermissions.ControlCommands)
                await setup.ExchangeDeclareAsync(BrokerPermissions.ExchangeOf(command), ExchangeType.Fanout, durable: true);
        }

        await using var w2 = await node.ConnectAsync(BrokerPermissions.WorkerUser("w2"));
        await using (var own = await w2.CreateChannelAsync())
            await own.ExchangeDeclareAsync(BrokerPermissions.WorkerControlEndpoint("w2"), ExchangeType.Fanout, durable: false, autoDelete: true);

        await using var w1 = await node.ConnectAsync(BrokerPermissions.WorkerUser("w1"));
        // A drain for every worker (MassTransit's exchange of DrainWorker), a cancel, and a drain sent to w2's endpoint directly.
        await AssertRefusedAsync(w1, ch => Publish(ch, BrokerPermissions.ExchangeOf(typeof(DrainWorker)), ""), "exchange 'BuildFarm.Contracts.Workers:DrainWorker'");
        await AssertRefusedAsync(w1, ch => Publish(ch, BrokerPermissions.ExchangeOf(typeof(CancelBuild)), ""), "exchange 'BuildFarm.Contracts.Builds:CancelBuild'");
        await AssertRefusedAsync(w1, ch => Publish(ch, BrokerPermissions.WorkerControlEndpoint("w2"), ""), "exchange 'buildfarm.worker.w2.control'");
    }

    [Fact]
    public async Task WorkerUser_WorkersOwnFlow_DeclaresConsumesAndPublishesItsEvents()
    {
        await using var dispatcher = await node.ConnectAsync(BrokerPermissions.DispatcherUser);
        var events = BrokerPermissions.DispatcherEventsEndpoint + "-flow-test";
        await using var d = await dispatcher.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true));
        await d.QueueDeclareAsync(events, durable: false, exclusive: false, autoDelete: true);

        await using var worker = await node.ConnectAsync(BrokerPermissions.WorkerUser("w1"));
        await using var w = await worker.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true));
        // What BuildQueueConsumer declares, then its own control endpoint bound to a command's exchange, as MassTransit does.
        await BuildQueueDeclarations.DeclareExchangesAsync(w, CancellationToken.None);
        var flowClass = new BuildClass("flow-linux", []);
        await BuildQueueDeclarations.DeclareClassQueueAsync(w, flowClass, CancellationToken.None);
        var control = BrokerPermissions.WorkerControlEndpoint("w1");
        var drain = BrokerPermissions.ExchangeOf(typeof(DrainWorker));
        await w.ExchangeDeclareAsync(drain, ExchangeType.Fanout, durable: true);
        await w.ExchangeDeclareAsync(control, ExchangeType.Fanout, durable: false, autoDelete: true);
        await w.ExchangeBindAsync(control, drain, "");
        await w.QueueDeclareAsync(control, durable: false, exclusive: true, autoDelete: true);
        await w.QueueBindAsync(control, control, "");

        // The dispatcher publishes a request and a drain; the worker receives both.
        await Publish(d, BrokerTopology.BuildExchange, flowClass.Key);
        await Publish(d, drain, "");
        Assert.NotNull(await w.BasicGetAsync(flowClass.QueueName, autoAck: true));
        Assert.NotNull(await w.BasicGetAsync(control, autoAck: true));

        // The worker publishes an event to its exchange (declared by it, as MassTransit does on first publish).
        var started = BrokerPermissions.ExchangeOf(typeof(BuildStarted));
        await w.ExchangeDeclareAsync(started, ExchangeType.Fanout, durable: true);
        await d.QueueBindAsync(events, started, "");
        await Publish(w, started, "");
        var received = await d.BasicGetAsync(events, autoAck: true);
        Assert.NotNull(received);
        Assert.Equal("hello", Encoding.UTF8.GetString(received.Body.Span));
    }

    [Fact]
    public async Task MonitoringUser_CanNeitherConsumeNorPublish()
    {
        await using var dispatcher = await node.ConnectAsync(BrokerPermissions.DispatcherUser);
        await using (var setup = await dispatcher.CreateChannelAsync())
        {
            await BuildQueueDeclarations.DeclareExchangesAsync(setup, CancellationToken.None);
            await BuildQueueDeclarations.DeclareClassQueueAsync(setup, Class, CancellationToken.None);
        }

        await using var monitoring = await node.ConnectAsync(BrokerPermissions.MonitoringUser);
        await AssertRefusedAsync(monitoring, async ch => await ch.BasicGetAsync(Class.QueueName, autoAck: false), $"queue '{Class.QueueName}'");
        await AssertRefusedAsync(monitoring, ch => Publish(ch, BrokerTopology.BuildExchange, Class.Key), "exchange 'buildfarm.builds'");
    }

    private static async Task Publish(IChannel channel, string exchange, string routingKey) =>
        await channel.BasicPublishAsync(exchange, routingKey, mandatory: false, new BasicProperties(), Encoding.UTF8.GetBytes("hello"));

    /// <summary>Runs <paramref name="act"/> on a fresh confirming channel; the broker must close it with 403 ACCESS_REFUSED naming <paramref name="resource"/>.</summary>
    private static async Task AssertRefusedAsync(IConnection connection, Func<IChannel, Task> act, string resource)
    {
        var channel = await connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true));
        try
        {
            await Record.ExceptionAsync(() => act(channel));
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
            while (!channel.IsClosed && DateTime.UtcNow < deadline)
                await Task.Delay(50);
            Assert.True(channel.IsClosed, $"the broker did not close the channel after the refused operation on {resource}");
            var reason = channel.CloseReason!;
            Assert.Equal(403, reason.ReplyCode);
            Assert.Contains("ACCESS_REFUSED", reason.ReplyText, StringComparison.Ordinal);
            Assert.Contains(resource, reason.ReplyText, StringComparison.Ordinal);
        }
        finally
        {
            await channel.DisposeAsync();
        }
    }
}
