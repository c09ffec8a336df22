using System.Net.Security;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Serilog;

namespace BuildFarm.Messaging.Broker;

/// <summary>Points a MassTransit RabbitMQ bus (events and control traffic) at the broker in <see cref="BrokerOptions"/>:
/// every node it names, so the bus fails over to another node of a cluster when its node goes away.</summary>
public static class MassTransitHost
{
    public static void ConfigureHost(this IRabbitMqBusFactoryConfigurator cfg, BrokerOptions options, string connectionName)
    {
        var uri = options.Endpoints()[0];
        var user = "guest";
        var password = "guest";
        if (uri.UserInfo.Length > 0)
        {
            var parts = uri.UserInfo.Split(':', 2);
            user = Uri.UnescapeDataString(parts[0]);
            password = parts.Length > 1 ? Uri.UnescapeDataString(parts[1]) : "";
        }

        password = options.ReadPasswordFile() ?? password;
        var vhost = options.VirtualHost.Length > 0 ? options.VirtualHost : Uri.UnescapeDataString(uri.AbsolutePath.TrimStart('/'));
        if (vhost.Length == 0)
            vhost = "/";
        var port = uri.IsDefaultPort || uri.Port <= 0 ? (uri.Scheme == "amqps" ? 5671 : 5672) : uri.Port;
        cfg.Host(uri.Host, (ushort)port, vhost, connectionName, h =>
        {
            h.Username(user);
            h.Password(password);
            // The same check as the build-request connection (BrokerConnections.Endpoint): host name and chain, never a policy error.
            if (uri.Scheme == "amqps")
            {
                var tls = BrokerTls.For(options);
                h.UseSsl(s =>
                {
                    s.ServerName = uri.Host;
                    s.EnforcePolicyErrors(SslPolicyErrors.RemoteCertificateNameMismatch | SslPolicyErrors.RemoteCertificateChainErrors | SslPolicyErrors.RemoteCertificateNotAvailable);
                    s.CertificateValidationCallback = tls.Validate;
                });
            }

            UseEveryNode(h, options);
        });
    }

    /// <summary>
    /// Replaces the bus's connection when the broker refuses a publish, so that a channel stuck after a quorum-queue
    /// failover (<see cref="PublishRefusals"/>) does not refuse every later publish of this process.
    /// </summary>
    public static void ReplaceRefusingChannels(this IRabbitMqBusFactoryConfigurator cfg, IServiceProvider services)
    {
        var time = services.GetService<TimeProvider>() ?? TimeProvider.System;
        var logger = services.GetService<ILogger>() ?? Log.Logger;
        cfg.ConnectPublishObserver(new RefusedPublishRecycler(services, new PublishRefusals(time, PublishRefusals.DefaultMinInterval), logger));
    }

    /// <summary>
    /// With several URIs, MassTransit's cluster resolver hands out the nodes in turn (one per connection attempt), so a
    /// bus whose node died reconnects to the next one; the first URI still supplies user, password, vhost and TLS.
    /// Each node keeps its own port (MassTransit's <c>Node("host:port")</c>).
    /// </summary>
    private static void UseEveryNode(IRabbitMqHostConfigurator h, BrokerOptions options)
    {
        var endpoints = options.Endpoints();
        if (endpoints.Count < 2)
            return;
        h.UseCluster(c =>
        {
            foreach (var node in endpoints)
            {
                var port = node.IsDefaultPort || node.Port <= 0 ? (node.Scheme == "amqps" ? 5671 : 5672) : node.Port;
                c.Node(FormattableString.Invariant($"{node.Host}:{port}"));
            }
        });
    }
}
