namespace BuildFarm.Contracts;

/// <summary>Version of the message contracts; bumped on breaking changes.</summary>
public static class ContractsInfo
{
    public const int Version = 1;
}
