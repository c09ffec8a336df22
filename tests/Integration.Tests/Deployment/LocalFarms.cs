namespace BuildFarm.Integration.Tests.Deployment;

/// <summary>Local farms (RabbitMQ, sshd, dispatcher, workers each) one at a time: two at once overload a 2-core machine.</summary>
[CollectionDefinition(Name)]
public sealed class LocalFarms
{
    public const string Name = "local farm";
}
