using BuildFarm.Testing;
using BuildFarm.Transfer.Errors;
using BuildFarm.Transfer.Origins;
using BuildFarm.Transfer.Resilience;
using BuildFarm.Transfer.Tests.Support;

namespace BuildFarm.Transfer.Tests.Resilience;

/// <summary>Each test stops its own sshd, so none shares a server.</summary>
public sealed class OutageTests
{
    [Theory]
    [InlineData(OriginTransport.SshNet)]
    [InlineData(OriginTransport.OpenSsh)]
    public async Task RunAsync_SshdDownForTenSeconds_RetriesUntilItIsBack(OriginTransport transport)
    {
        using var server = await SshdServer.StartAsync();
        var log = new CapturingSink();
        var options = new TransferResilienceOptions
        {
            MaxRetryAttempts = 10,
            BaseDelay = TimeSpan.FromMilliseconds(500),
            MaxDelay = TimeSpan.FromSeconds(3),
            MinimumThroughput = 50,
        };
        await using var origin = new OriginClient(ConnectionSettings.For(server, transport), options, log.CreateLogger());
        Assert.Equal("before\n", await origin.RunAsync("echo before", CancellationToken.None));

        var outage = server.StopForAsync(TimeSpan.FromSeconds(10));
        var result = await origin.RunAsync("echo after", CancellationToken.None);
        await outage;

        Assert.Equal("after\n", result);
        Assert.True(origin.Resilience.Retries >= 2, $"expected retries during the outage, saw {origin.Resilience.Retries}");
        var retries = log.WithTemplate("Transfer to {Origin} failed").ToList();
        Assert.Equal(origin.Resilience.Retries, retries.Count);
        Assert.All(retries, e => Assert.Equal(origin.Settings.Name, e.Properties["Origin"].ToString().Trim('"')));
        // The dropped connection was replaced, not reused.
        Assert.Equal(2, origin.Pool.ConnectionsOpened);
        Assert.Equal(0, origin.Resilience.CircuitOpenings);
    }

    [Theory]
    [InlineData(OriginTransport.SshNet)]
    [InlineData(OriginTransport.OpenSsh)]
    public async Task RunAsync_OriginStaysDown_CircuitOpensAndFailsFast(OriginTransport transport)
    {
        using var server = await SshdServer.StartAsync();
        var log = new CapturingSink();
        var options = new TransferResilienceOptions
        {
            MaxRetryAttempts = 2,
            BaseDelay = TimeSpan.FromMilliseconds(100),
            MaxDelay = TimeSpan.FromMilliseconds(200),
            FailureRatio = 1.0,
            MinimumThroughput = 4,
            SamplingDuration = TimeSpan.FromSeconds(60),
            BreakDuration = TimeSpan.FromSeconds(60),
        };
        await using var origin = new OriginClient(ConnectionSettings.For(server, transport), options, log.CreateLogger());
        server.Stop();

        // First call: 3 attempts, all refused; retries exhausted.
        var exhausted = await Assert.ThrowsAsync<TransferInfrastructureException>(() => origin.RunAsync("true", CancellationToken.None));
        Assert.False(exhausted.CircuitOpen);
        Assert.Equal(3, exhausted.Attempts);
        Assert.Contains("failed after 3 attempt(s)", exhausted.Message, StringComparison.Ordinal);

        // Second call: the 4th failed attempt opens the circuit; the retry after it is refused by the breaker.
        var opened = await Assert.ThrowsAsync<TransferInfrastructureException>(() => origin.RunAsync("true", CancellationToken.None));
        Assert.True(opened.CircuitOpen);
        Assert.Equal(1, origin.Resilience.CircuitOpenings);

        // Third call: fails fast, without touching the network, and says why.
        server.Start();
        await server.WaitUntilListeningAsync(TimeSpan.FromSeconds(20));
        var fast = await Assert.ThrowsAsync<TransferInfrastructureException>(() => origin.RunAsync("true", CancellationToken.None));
        Assert.True(fast.CircuitOpen);
        Assert.Equal(0, fast.Attempts);
        Assert.Contains("circuit is open", fast.Message, StringComparison.Ordinal);
        Assert.Equal(0, origin.Pool.ConnectionsOpened);
        Assert.Single(log.WithTemplate("Circuit to origin {Origin} opened"));
    }
}
