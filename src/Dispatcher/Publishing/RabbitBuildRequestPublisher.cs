using System.Text.Json;
using BuildFarm.Contracts.Builds;
using BuildFarm.Dispatcher.Lifecycle;
using BuildFarm.Messaging.Broker;
using BuildFarm.Messaging.Routing;
using BuildFarm.Messaging.Requests;
using Polly;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace BuildFarm.Dispatcher.Publishing;

/// <summary>
/// Publishes signed build requests on the class queues over raw RabbitMQ.Client 7: persistent messages, mandatory
/// flag, publisher confirms with tracking, so <see cref="PublishAsync"/> returns only after the broker took
/// responsibility (quorum queue: a majority wrote it). A nack or a return (no queue bound for the key) throws; the
/// Polly pipeline redeclares and retries, and automatic recovery reconnects after a broker restart.
/// </summary>
internal sealed class RabbitBuildRequestPublisher(BrokerOptions broker, RequestSigner signer, TimeProvider time) : IBuildRequestPublisher, IAsyncDisposable
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly HashSet<string> _declared = new(StringComparer.Ordinal);
    private readonly ResiliencePipeline _retry = BrokerRetry.Create(time);
    private IConnection? _connection;
    private IChannel? _channel;

    public async Task PublishAsync(BuildDerivation request, int contractVersion, CancellationToken cancellationToken)
    {
        var buildClass = ContractRouting.ClassOf(request, contractVersion);
        var body = JsonSerializer.SerializeToUtf8Bytes(signer.Wrap(request, contractVersion), MessagingJson.Options);
        var props = new BasicProperties
        {
            Persistent = true,
            ContentType = "application/json",
            MessageId = $"{request.BuildId}/{request.Attempt}",
            Type = nameof(SignedBuildRequest),
        };
        await _retry.ExecuteAsync(async ct =>
        {
            var channel = await ChannelForAsync(buildClass, ct);
            try
            {
                await channel.BasicPublishAsync(BrokerTopology.BuildExchange, buildClass.Key, mandatory: true, props, body, ct);
            }
            catch (PublishException e) when (e.IsReturn)
            {
                // Returned: the class queue is gone (deleted by hand?). Forget it so the retry redeclares it.
                await ForgetAsync(buildClass, ct);
                throw;
            }
        }, cancellationToken);
    }

    private async Task<IChannel> ChannelForAsync(BuildClass buildClass, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            if (_connection is null)
            {
                // One connect attempt per call: the surrounding pipeline owns the retries.
                _connection = await BrokerConnections.ConnectAsync(broker, "buildfarm-dispatcher", 1, cancellationToken);
            }

            if (_channel is null || _channel.IsClosed)
            {
                // A channel closed by a channel-level error is not recovered automatically: open a new one.
                if (_channel is not null)
                    await _channel.DisposeAsync();
                _channel = await _connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true), cancellationToken);
                _declared.Clear();
                await BuildQueueDeclarations.DeclareExchangesAsync(_channel, cancellationToken);
            }

            if (_declared.Add(buildClass.Key))
            {
                try
                {
                    await BuildQueueDeclarations.DeclareClassQueueAsync(_channel, buildClass, cancellationToken);
                }
                catch (Exception e) when (e is OperationInterruptedException or AlreadyClosedException)
                {
                    _declared.Remove(buildClass.Key);
                    throw;
                }
            }

            return _channel;
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task ForgetAsync(BuildClass buildClass, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        _declared.Remove(buildClass.Key);
        _gate.Release();
    }

    public async ValueTask DisposeAsync()
    {
        if (_channel is not null)
            await _channel.DisposeAsync();
        if (_connection is not null)
            await _connection.DisposeAsync();
        _gate.Dispose();
    }
}
