using System.Collections;
using BuildFarm.Dispatcher.Hosting;

namespace BuildFarm.Dispatcher.Tests.Hosting;

public sealed class DispatcherEnvironmentTests
{
    [Fact]
    public void Map_CanonicalPrefix_BindsOwnKeysBrokerAndUi()
    {
        var keys = DispatcherEnvironment.Map(new Hashtable
        {
            ["BUILDFARM_DISPATCHER__ListenUrl"] = "http://0.0.0.0:8080",
            ["BUILDFARM_DISPATCHER__Origin__Port"] = "2222",
            ["BUILDFARM_DISPATCHER__Broker__Uri"] = "amqp://a:5672/",
            ["BUILDFARM_DISPATCHER__UI__TOKEN"] = "t",
        });

        Assert.Equal("http://0.0.0.0:8080", keys["Dispatcher:ListenUrl"]);
        Assert.Equal("2222", keys["Dispatcher:Origin:Port"]);
        Assert.Equal("amqp://a:5672/", keys["Broker:Uri"]);
        Assert.Equal("t", keys["Ui:TOKEN"]);
    }

    [Fact]
    public void Map_LegacyNames_StillWorkButCanonicalWins()
    {
        var keys = DispatcherEnvironment.Map(new Hashtable
        {
            ["BUILDFARM_Broker__Uri"] = "amqp://old:5672/",
            ["BUILDFARM_DISPATCHER__Broker__Uri"] = "amqp://new:5672/",
            ["BUILDFARM_UI__TOKEN"] = "legacy-token",
            ["BUILDFARM_Dispatcher__MaxAttempts"] = "5",
        });

        Assert.Equal("amqp://new:5672/", keys["Broker:Uri"]);
        Assert.Equal("legacy-token", keys["Ui:TOKEN"]);
        Assert.Equal("5", keys["Dispatcher:MaxAttempts"]);
    }

    [Fact]
    public void Map_OtherBuildfarmVariables_Ignored()
    {
        var keys = DispatcherEnvironment.Map(new Hashtable
        {
            ["BUILDFARM_STORE_DIR"] = "/nix/store",
            ["BUILDFARM_WORKER__Broker__Uri"] = "amqp://w:5672/",
            ["PATH"] = "/bin",
        });

        Assert.Empty(keys);
    }
}
