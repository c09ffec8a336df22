using BuildFarm.Testing;

namespace BuildFarm.Integration.Tests.Broker;

public sealed class RabbitMqServerTests
{
    [Fact]
    public async Task StartNew_PrivateNode_AnswersRabbitmqctlAndSurvivesRestart()
    {
        await using var server = await RabbitMqServer.StartNewAsync(consumerTimeout: TimeSpan.FromMinutes(1));
        var status = await server.CtlAsync(["eval", "application:get_env(rabbit, consumer_timeout)."]);
        Assert.Contains("60000", status.Stdout, StringComparison.Ordinal);
        await server.StopAsync();
        await server.StartAsync();
        var again = await server.CtlAsync(["list_queues"]);
        Assert.Equal(0, again.ExitCode);
    }
}
