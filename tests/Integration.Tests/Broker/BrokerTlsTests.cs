using BuildFarm.Contracts.Workers;
using BuildFarm.Messaging.Broker;
using BuildFarm.Testing;
using MassTransit;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace BuildFarm.Integration.Tests.Broker;

/// <summary>A TLS-only node (no plain listener) whose server certificate a test CA signed.</summary>
public sealed class TlsBrokerNode : IAsyncLifetime, IDisposable
{
    internal TestCertificates Certificates { get; } = TestCertificates.Create();

    /// <summary>Another CA, which did not sign the broker's certificate.</summary>
    internal TestCertificates WrongCa { get; } = TestCertificates.Create("Some other CA");

    internal RabbitMqServer Server { get; private set; } = null!;

    public async Task InitializeAsync() => Server = await RabbitMqServer.StartNewAsync(tls: Certificates);

    public async Task DisposeAsync()
    {
        if (Server is not null)
            await Server.DisposeAsync();
    }

    public void Dispose()
    {
        Certificates.Dispose();
        WrongCa.Dispose();
    }
}

/// <summary>
/// Issue 15, <c>amqps</c>: both connections (RabbitMQ.Client for build requests, MassTransit for events and control)
/// use TLS with the certificate checked against <c>Broker:CaCertificateFile</c>; a wrong CA is refused with the
/// reason; the node has no plain listener and its TLS port refuses plain AMQP.
/// </summary>
public sealed class BrokerTlsTests(TlsBrokerNode node) : IClassFixture<TlsBrokerNode>
{
    private BrokerOptions Options(string? caFile) => new() { Uri = node.Server.UriFor("guest:guest"), CaCertificateFile = caFile ?? "" };

    [Fact]
    public async Task ConnectAsync_TrustedCa_ConnectsOverTls()
    {
        await using var connection = await BrokerConnections.ConnectAsync(Options(node.Certificates.CaFile), "tls-test", 1, CancellationToken.None);

        Assert.True(connection.IsOpen);
        Assert.StartsWith("true\ttlsv1.", await ConnectionLineAsync("tls-test"), StringComparison.Ordinal);
    }

    /// <summary>The broker's <c>ssl ssl_protocol client_properties</c> line of the connection named <paramref name="name"/>.</summary>
    private async Task<string> ConnectionLineAsync(string name)
    {
        var list = await node.Server.CtlAsync(["list_connections", "ssl", "ssl_protocol", "client_properties"]);
        var line = list.Stdout.Split('\n').FirstOrDefault(l => l.Contains($"\"{name}\"", StringComparison.Ordinal));
        Assert.True(line is not null, $"no connection named {name} on the broker: {list.Stdout}");
        return line;
    }

    [Fact]
    public async Task ConnectAsync_WrongCa_RefusedNamingTheCaFile()
    {
        var e = await Assert.ThrowsAsync<BrokerTlsRefusedException>(() =>
            BrokerConnections.ConnectAsync(Options(node.WrongCa.CaFile), "tls-wrong-ca", 3, CancellationToken.None));

        Assert.Contains("TLS to the broker refused", e.Message, StringComparison.Ordinal);
        Assert.Contains($"is not signed by a CA in Broker:CaCertificateFile '{node.WrongCa.CaFile}'", e.Message, StringComparison.Ordinal);
        Assert.Contains("BuildFarm test CA", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ConnectAsync_SystemCasOnly_RefusedSayingWhichKeyToSet()
    {
        var e = await Assert.ThrowsAsync<BrokerTlsRefusedException>(() =>
            BrokerConnections.ConnectAsync(Options(null), "tls-system-cas", 1, CancellationToken.None));

        Assert.Contains("is not trusted by this machine", e.Message, StringComparison.Ordinal);
        Assert.Contains("set Broker:CaCertificateFile", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PlainAmqp_NoPlainListenerAndTheTlsPortRefusesIt()
    {
        var listeners = await node.Server.CtlAsync(["eval", "[{P, Port} || {listener, _, P, _, _, Port, _} <- rabbit_networking:active_listeners()]."]);
        Assert.Contains($"{{'amqp/ssl',{node.Server.Port}}}", listeners.Stdout.Replace(" ", "", StringComparison.Ordinal), StringComparison.Ordinal);
        Assert.DoesNotContain("{amqp,", listeners.Stdout.Replace(" ", "", StringComparison.Ordinal), StringComparison.Ordinal);

        var plain = new BrokerOptions { Uri = $"amqp://guest:guest@127.0.0.1:{node.Server.Port}/" };
        await Assert.ThrowsAsync<BrokerUnreachableException>(() => BrokerConnections.ConnectAsync(plain, "plain-on-tls-port", 1, CancellationToken.None));
    }

    [Fact]
    public async Task MassTransitBus_TrustedCa_PublishesOverTls()
    {
        var bus = Bus.Factory.CreateUsingRabbitMq(cfg => cfg.ConfigureHost(Options(node.Certificates.CaFile), "tls-masstransit"));
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await bus.StartAsync(cts.Token);
        try
        {
            await bus.Publish(new PauseWorker("nobody", "tls test"), cts.Token);
            var exchanges = await node.Server.CtlAsync(["list_exchanges", "name"]);
            Assert.Contains("BuildFarm.Contracts.Workers:PauseWorker", exchanges.Stdout, StringComparison.Ordinal);
            Assert.StartsWith("true\ttlsv1.", await ConnectionLineAsync("tls-masstransit"), StringComparison.Ordinal);
        }
        finally
        {
            await bus.StopAsync(CancellationToken.None);
        }
    }

    [Fact]
    public async Task MassTransitBus_WrongCa_NeverConnects()
    {
        var bus = Bus.Factory.CreateUsingRabbitMq(cfg => cfg.ConfigureHost(Options(node.WrongCa.CaFile), "tls-masstransit-wrong"));
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        var e = await Record.ExceptionAsync(async () =>
        {
            await bus.StartAsync(cts.Token);
            await bus.Publish(new PauseWorker("nobody", "must not arrive"), cts.Token);
        });
        await bus.StopAsync(CancellationToken.None);

        Assert.NotNull(e);
        var connections = await node.Server.CtlAsync(["list_connections", "client_properties"]);
        Assert.DoesNotContain("tls-masstransit-wrong", connections.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_UnreadableCaFile_NamesTheKey()
    {
        var error = new BrokerOptions { CaCertificateFile = "/no/such/ca.pem" }.Validate();

        Assert.NotNull(error);
        Assert.StartsWith("Broker:CaCertificateFile '/no/such/ca.pem' is unusable", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_PasswordFileReadableByOthers_Refused()
    {
        using var dir = new TempDirectory("broker-password");
        var file = dir.Combine("password");
        File.WriteAllText(file, "secret\n");
        File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);

        Assert.Equal($"Broker:PasswordFile '{file}' is readable by group or others: chmod 600 it", new BrokerOptions { PasswordFile = file }.Validate());
        File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        Assert.Null(new BrokerOptions { PasswordFile = file }.Validate());
        Assert.Equal("secret", new BrokerOptions { PasswordFile = file }.ReadPasswordFile());
    }
}
