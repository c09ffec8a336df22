using Polly;
using Polly.Retry;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace BuildFarm.Messaging.Broker;

/// <summary>
/// Opens RabbitMQ.Client connections for the build-request traffic: automatic recovery of the connection and
/// of its topology (queues, bindings, consumers) after an outage, and Polly retries for the initial connect.
/// </summary>
public static class BrokerConnections
{
    public static ConnectionFactory CreateFactory(BrokerOptions options, string clientName)
    {
        var first = options.Endpoints()[0];
        var factory = new ConnectionFactory
        {
            Uri = first,
            ClientProvidedName = clientName,
            AutomaticRecoveryEnabled = true,
            TopologyRecoveryEnabled = true,
            NetworkRecoveryInterval = TimeSpan.FromSeconds(2),
            RequestedHeartbeat = TimeSpan.FromSeconds(15),
        };
        if (options.VirtualHost.Length > 0)
            factory.VirtualHost = options.VirtualHost;
        if (options.ReadPasswordFile() is { } password)
            factory.Password = password;
        return factory;
    }

    /// <summary>
    /// The endpoint of one broker URI. RabbitMQ.Client's <c>AmqpTcpEndpoint(Uri)</c> keeps only host and port, so an
    /// <c>amqps://</c> URI would connect in plain text (the password crossing the wire in clear): the scheme decides
    /// TLS here, with the server's certificate checked against the host name and the system's trusted CAs.
    /// </summary>
    public static AmqpTcpEndpoint Endpoint(Uri uri, BrokerTls? check = null)
    {
        var tls = string.Equals(uri.Scheme, "amqps", StringComparison.OrdinalIgnoreCase);
        var port = uri.Port > 0 ? uri.Port : tls ? AmqpTcpEndpoint.DefaultAmqpSslPort : AmqpTcpEndpoint.UseDefaultPort;
        if (!tls)
            return new AmqpTcpEndpoint(uri.Host, port, new SslOption());
        var ssl = new SslOption(uri.Host) { Enabled = true };
        if (check is not null)
            ssl.CertificateValidationCallback = check.Validate;
        return new AmqpTcpEndpoint(uri.Host, port, ssl);
    }

    /// <summary>Connects to the first endpoint that answers, retrying with backoff until <paramref name="cancellationToken"/>.</summary>
    public static async Task<IConnection> ConnectAsync(BrokerOptions options, string clientName, int maxAttempts, CancellationToken cancellationToken)
    {
        var factory = CreateFactory(options, clientName);
        var tls = BrokerTls.For(options);
        var endpoints = options.Endpoints().Select(u => Endpoint(u, tls)).ToList();
        var pipeline = new ResiliencePipelineBuilder()
            .AddRetry(new RetryStrategyOptions
            {
                // A refused certificate stays refused: no retry, the reason at once.
                ShouldHandle = new PredicateBuilder().Handle<BrokerUnreachableException>(_ => tls.LastRefusal is null).Handle<IOException>(_ => tls.LastRefusal is null),
                MaxRetryAttempts = Math.Max(1, maxAttempts - 1),
                BackoffType = DelayBackoffType.Exponential,
                Delay = TimeSpan.FromMilliseconds(500),
                MaxDelay = TimeSpan.FromSeconds(10),
                UseJitter = true,
            })
            .Build();
        try
        {
            return await pipeline.ExecuteAsync(async ct => await factory.CreateConnectionAsync(endpoints, clientName, ct), cancellationToken);
        }
        catch (Exception e) when (e is BrokerUnreachableException or IOException && tls.LastRefusal is { } refusal)
        {
            throw new BrokerTlsRefusedException(refusal, e);
        }
    }
}

/// <summary>The broker's TLS certificate was refused: still "unreachable" for retry policies, with a message that says why.</summary>
public sealed class BrokerTlsRefusedException(string refusal, Exception inner)
    : BrokerUnreachableException(new System.Security.Authentication.AuthenticationException("TLS to the broker refused: " + refusal, inner))
{
    public override string Message => "TLS to the broker refused: " + refusal;
}
