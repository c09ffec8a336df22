namespace BuildFarm.Integration.Tests.Deployment;

/// <summary>The checker behind Compose_EveryBuildfarmVariable_IsReadByTheCode, against an options type that exists.</summary>
public sealed class ConfigurationVariablesTests
{
    private static readonly (string, string, string)[] Bindings =
    [
        ("TEST_", "Broker", "BuildFarm.Messaging.Broker.BrokerOptions, BuildFarm.Messaging"),
    ];

    private const string Sources = "builder.AddEnvironmentVariables(\"TEST_\"); Environment.GetEnvironmentVariable(\"TEST_LITERAL\");";

    [Theory]
    [InlineData("TEST_Broker__Uri", "amqp://a:5672/")]
    [InlineData("TEST_broker__virtualhost", "/")]
    [InlineData("TEST_LITERAL", "anything")]
    public void Problem_KnownKey_None(string name, string value) =>
        Assert.Null(ConfigurationVariables.Problem(name, value, Bindings, Sources));

    [Theory]
    [InlineData("TEST_Broker__Url", "x", "BrokerOptions has no settable property 'Url'")]
    [InlineData("TEST_Brokers__Uri", "x", "'Brokers' is not a section bound from TEST_")]
    [InlineData("OTHER_X", "x", "no known configuration prefix")]
    [InlineData("TEST_Broker", "x", "is a BrokerOptions section, not a value")]
    [InlineData("TEST_Broker__Uri__0", "x", "'0' indexes String, which is not a list")]
    public void Problem_UnknownKey_SaysWhy(string name, string value, string why) =>
        Assert.Contains(why, ConfigurationVariables.Problem(name, value, Bindings, Sources), StringComparison.Ordinal);
}
