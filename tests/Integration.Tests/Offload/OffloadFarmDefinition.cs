namespace BuildFarm.Integration.Tests.Offload;

/// <summary>The offload test classes share one farm (<see cref="OffloadFarmFixture"/>) and run one after another.</summary>
[CollectionDefinition(Name)]
public sealed class OffloadFarmDefinition : ICollectionFixture<OffloadFarmFixture>
{
    public const string Name = "offload farm";
}
