using MassTransit;
using RabbitMQ.Client;

namespace BuildFarm.Messaging.Broker;

/// <summary>Turns <see cref="BrokerOptions"/> into a raw RabbitMQ.Client connection and a MassTransit host.</summary>
public static class BrokerConnections
{
    /// <summary>
    /// A connection factory with automatic connection and topology recovery: after a broker restart the client
    /// reconnects by itself and redeclares what this connection declared (queues, bindings, consumers).
    /// </summary>
    public static ConnectionFactory CreateFactory(BrokerOptions options, string clientName)
    {
        var first = options.Endpoints()[0];
        var factory = new ConnectionFactory
        {
            Uri = first,
            AutomaticRecoveryEnabled = true,
            TopologyRecoveryEnabled = true,
            NetworkRecoveryInterval = TimeSpan.FromSeconds(2),
            RequestedHeartbeat = TimeSpan.FromSeconds(10),
            ClientProvidedName = clientName,
        };
        if (options.VirtualHost.Length > 0)
            factory.VirtualHost = options.VirtualHost;
        return factory;
    }

    /// <summary>Every configured node, for <c>CreateConnectionAsync(endpoints)</c>.</summary>
    public static IReadOnlyList<AmqpTcpEndpoint> AmqpEndpoints(BrokerOptions options) =>
        options.Endpoints().Select(u => new AmqpTcpEndpoint(u)).ToArray();

    /// <summary>Points a MassTransit RabbitMQ bus at the broker (first node; user and password from the URI).</summary>
    public static void ConfigureHost(IRabbitMqBusFactoryConfigurator cfg, BrokerOptions options)
    {
        var uri = options.Endpoints()[0];
        var userInfo = Uri.UnescapeDataString(uri.UserInfo).Split(':', 2);
        var vhost = options.VirtualHost.Length > 0 ? options.VirtualHost : Uri.UnescapeDataString(uri.AbsolutePath.TrimStart('/'));
        var port = uri.IsDefaultPort || uri.Port <= 0 ? (uri.Scheme == "amqps" ? 5671 : 5672) : uri.Port;
        cfg.Host(uri.Host, (ushort)port, vhost.Length == 0 ? "/" : vhost, h =>
        {
            if (userInfo[0].Length > 0)
                h.Username(userInfo[0]);
            if (userInfo.Length > 1)
                h.Password(userInfo[1]);
            if (uri.Scheme == "amqps")
                h.UseSsl(s => s.ServerName = uri.Host);
        });
    }
}
