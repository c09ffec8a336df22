using BuildFarm.Messaging.Broker;

namespace BuildFarm.Integration.Tests.Broker;

public sealed class BrokerEndpointTests
{
    [Theory]
    [InlineData("amqps://bf:secret@rabbit-1/", "rabbit-1", 5671)]
    [InlineData("amqps://bf:secret@rabbit-1:15671/vhost", "rabbit-1", 15671)]
    public void Endpoint_AmqpsUri_TlsWithTheHostsCertificateChecked(string uri, string host, int port)
    {
        var endpoint = BrokerConnections.Endpoint(new Uri(uri));

        Assert.Equal(host, endpoint.HostName);
        Assert.Equal(port, endpoint.Port);
        Assert.True(endpoint.Ssl.Enabled, "an amqps URI must connect over TLS");
        Assert.Equal(host, endpoint.Ssl.ServerName);
        Assert.Equal(System.Net.Security.SslPolicyErrors.None, endpoint.Ssl.AcceptablePolicyErrors);
    }

    [Theory]
    [InlineData("amqp://guest:guest@127.0.0.1/", 5672)]
    [InlineData("amqp://guest:guest@127.0.0.1:16994/", 16994)]
    public void Endpoint_AmqpUri_PlainOnItsPort(string uri, int port)
    {
        var endpoint = BrokerConnections.Endpoint(new Uri(uri));

        Assert.False(endpoint.Ssl.Enabled);
        Assert.Equal(port, endpoint.Port);
    }
}
