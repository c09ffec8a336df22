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
/// Polly pipeline redeclares and retries, and automatic recovery reconnects after a broker restart. A nack replaces
/// the channel before the retry: on RabbitMQ 3.10 a channel that first published to a class queue while the queue's
/// old leader was down refuses every later publish to it (<see cref="PublishRefusals"/>), and automatic recovery gives
/// exactly such new channels right after a node dies.
/// </summary>
internal sealed class RabbitBuildRequestPublisher(BrokerOptions broker, RequestSigner signer, TimeProvider time) : IBuildRequestPublisher, IAsyncDisposable
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly HashSet<string> _declared = new(StringComparer.Ordinal);
    private readonly ResiliencePipeline _retry = BrokerRetry.Create(time);
    private readonly PublishRefusals _refusals = new(time, TimeSpan.Zero);
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
            catch (PublishException e) when (_refusals.ShouldReplace(e))
            {
                // Nacked: nothing of it is on the queue. The retry publishes it again on a new channel.
                await ReplaceChannelAsync(channel, ct);
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

    private async Task ReplaceChannelAsync(IChannel refusing, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            // Another publish may have replaced it already.
            if (!ReferenceEquals(_channel, refusing))
                return;
            _channel = null;
        }
        finally
        {
            _gate.Release();
        }

        try
        {
            await refusing.CloseAsync(cancellationToken);
        }
        catch (Exception e) when (e is OperationInterruptedException or AlreadyClosedException or IOException or TimeoutException)
        {
            // Already closing or closed: either way it is no longer used.
        }

        await refusing.DisposeAsync();
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
