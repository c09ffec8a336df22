using System.Text;
using System.Text.Json;
using BuildFarm.Contracts;
using BuildFarm.Contracts.Builds;
using BuildFarm.Messaging.Broker;
using BuildFarm.Messaging.Requests;
using BuildFarm.Messaging.Routing;
using BuildFarm.Store.Signing;
using RabbitMQ.Client;

namespace BuildFarm.Worker.Tests.Farm;

/// <summary>Publishes build requests the way the dispatcher does: shared declarations, persistent, confirmed.</summary>
internal sealed class TestPublisher : IAsyncDisposable
{
    private readonly IConnection _connection;
    private readonly IChannel _channel;

    private TestPublisher(IConnection connection, IChannel channel)
    {
        _connection = connection;
        _channel = channel;
    }

    public static async Task<TestPublisher> StartAsync(string amqpUri)
    {
        var connection = await BrokerConnections.ConnectAsync(new BrokerOptions { Uri = amqpUri }, "test publisher", 5, CancellationToken.None);
        var channel = await connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true));
        await BuildQueueDeclarations.DeclareExchangesAsync(channel, CancellationToken.None);
        return new TestPublisher(connection, channel);
    }

    /// <summary>Signs as the dispatcher does, issued now or at <paramref name="issuedAt"/>, as contract <paramref name="version"/>.</summary>
    internal static SignedBuildRequest Sign(BuildDerivation request, SigningKey key, DateTimeOffset? issuedAt = null, int version = ContractsInfo.Version)
    {
        var json = JsonSerializer.Serialize(request, MessagingJson.Options);
        var at = issuedAt ?? DateTimeOffset.UtcNow;
        return new SignedBuildRequest(version, json, key.Sign(SignedBuildRequest.SignedText(at, json)), at);
    }

    /// <summary>Publishes as the dispatcher does at contract <paramref name="version"/>: on the queue of that version (<see cref="ContractRouting"/>).</summary>
    internal Task PublishAsync(BuildDerivation request, SigningKey key, DateTimeOffset? issuedAt = null, int version = ContractsInfo.Version) =>
        PublishRawAsync(ContractRouting.ClassOf(request, version), JsonSerializer.SerializeToUtf8Bytes(Sign(request, key, issuedAt, version), MessagingJson.Options));

    public async Task PublishRawAsync(BuildClass buildClass, byte[] body)
    {
        await BuildQueueDeclarations.DeclareClassQueueAsync(_channel, buildClass, CancellationToken.None);
        var props = new BasicProperties { DeliveryMode = DeliveryModes.Persistent, ContentType = "application/json" };
        await _channel.BasicPublishAsync(BrokerTopology.BuildExchange, buildClass.Key, mandatory: true, props, body);
    }

    public Task PublishRawAsync(BuildClass buildClass, string body) => PublishRawAsync(buildClass, Encoding.UTF8.GetBytes(body));

    /// <summary>Messages ready in a queue (passive declare).</summary>
    public async Task<uint> CountAsync(string queue) => (await _channel.QueueDeclarePassiveAsync(queue)).MessageCount;

    public async ValueTask DisposeAsync()
    {
        await _channel.CloseAsync();
        await _connection.CloseAsync();
        _channel.Dispose();
        _connection.Dispose();
    }
}
