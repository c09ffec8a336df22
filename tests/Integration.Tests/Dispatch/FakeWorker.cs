using System.Collections.Concurrent;
using System.Text.Json;
using BuildFarm.Contracts.Builds;
using BuildFarm.Contracts.Workers;
using BuildFarm.Messaging.Broker;
using BuildFarm.Messaging.Requests;
using BuildFarm.Messaging.Routing;
using MassTransit;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace BuildFarm.Integration.Tests.Dispatch;

/// <summary>
/// A stand-in worker speaking the wire protocol of MESSAGING.md (claim: BuildStarted then ack; heartbeats listing
/// running builds; result events) without running builders, so the dispatcher can be tested alone. With
/// <see cref="Hang"/> it claims and then goes silent, like a killed machine.
/// </summary>
internal sealed class FakeWorker : IAsyncDisposable
{
    private readonly BrokerOptions _broker;
    private readonly ConcurrentDictionary<(Guid, int), byte> _running = new();
    private readonly CancellationTokenSource _stop = new();
    private IConnection? _connection;
    private IBusControl? _bus;
    private Task? _heartbeats;

    public FakeWorker(string name, WorkerCapabilities capabilities, string amqpUri)
    {
        Name = name;
        Capabilities = capabilities;
        _broker = new BrokerOptions { Uri = amqpUri };
    }

    public string Name { get; }

    public WorkerCapabilities Capabilities { get; }

    /// <summary>Claim, then never finish and stop heartbeating.</summary>
    public bool Hang { get; init; }

    /// <summary>Log chunks published back to back between the claim and the result (0 = one line).</summary>
    public int LogChunks { get; init; }

    public ConcurrentQueue<BuildDerivation> Claimed { get; } = new();

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        _bus = Bus.Factory.CreateUsingRabbitMq(cfg => cfg.ConfigureHost(_broker, "fake-" + Name));
        await _bus.StartAsync(cancellationToken);
        await HeartbeatAsync(cancellationToken);
        _heartbeats = Task.Run(async () =>
        {
            using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(500));
            while (await timer.WaitForNextTickAsync(_stop.Token).ConfigureAwait(false))
            {
                if (!(Hang && !_running.IsEmpty))
                    await HeartbeatAsync(_stop.Token);
            }
        }, CancellationToken.None);
        _connection = await BrokerConnections.ConnectAsync(_broker, "fake-" + Name, 5, cancellationToken);
        foreach (var buildClass in CapabilityMatcher.EnumerateClasses(Capabilities))
        {
            var channel = await _connection.CreateChannelAsync(cancellationToken: cancellationToken);
            await BuildQueueDeclarations.DeclareExchangesAsync(channel, cancellationToken);
            await BuildQueueDeclarations.DeclareClassQueueAsync(channel, buildClass, cancellationToken);
            await channel.BasicQosAsync(0, 1, false, cancellationToken);
            var consumer = new AsyncEventingBasicConsumer(channel);
            consumer.ReceivedAsync += (_, delivery) => OnDeliveryAsync(channel, delivery);
            await channel.BasicConsumeAsync(buildClass.QueueName, autoAck: false, consumer, cancellationToken);
        }
    }

    private async Task OnDeliveryAsync(IChannel channel, BasicDeliverEventArgs delivery)
    {
        var signed = JsonSerializer.Deserialize<SignedBuildRequest>(delivery.Body.Span, MessagingJson.Options)!;
        var request = JsonSerializer.Deserialize<BuildDerivation>(signed.RequestJson, MessagingJson.Options)!;
        Claimed.Enqueue(request);
        _running[(request.BuildId, request.Attempt)] = 0;
        await _bus!.Publish(new BuildStarted(request.BuildId, request.Attempt, Name, DateTimeOffset.UtcNow));
        await channel.BasicAckAsync(delivery.DeliveryTag, false);
        if (Hang)
        {
            // Dies like a killed machine: the connection goes away, no result, no more heartbeats.
            _ = Task.Run(() => _connection!.CloseAsync());
            return;
        }
        if (LogChunks == 0)
            await _bus.Publish(new BuildLogEmitted(request.BuildId, request.Attempt, Name, 1, $"building {request.DrvPath} on {Name}\n"));
        for (var n = 1; n <= LogChunks; n++)
            await _bus.Publish(new BuildLogEmitted(request.BuildId, request.Attempt, Name, n, $"chunk {n} of {request.BuildId}\n"));
        var output = new BuiltOutput("out", request.DrvPath[..^4] + "-out", "sha256:0", 0, [], [Name + ":sig"]);
        await _bus.Publish(new BuildSucceeded(request.BuildId, request.Attempt, Name, [output], new PhaseTimings(TimeSpan.Zero, TimeSpan.Zero, TimeSpan.Zero), DateTimeOffset.UtcNow));
        _running.TryRemove((request.BuildId, request.Attempt), out _);
    }

    private Task HeartbeatAsync(CancellationToken cancellationToken) => _bus!.Publish(new WorkerStatusReported(
        Name, Capabilities, _running.Keys.Select(k => new RunningBuild(k.Item1, k.Item2)).ToArray(), 0, 1L << 30, "fake", false, false, null, DateTimeOffset.UtcNow), cancellationToken);

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        if (_heartbeats is not null)
        {
            try
            {
                await _heartbeats;
            }
            catch (OperationCanceledException)
            {
            }
        }

        if (_connection is not null)
            await _connection.DisposeAsync();
        if (_bus is not null)
            await _bus.StopAsync();
        _stop.Dispose();
    }
}
