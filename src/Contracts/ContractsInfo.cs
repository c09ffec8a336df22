namespace BuildFarm.Contracts;

/// <summary>
/// Version of the message contracts. Readers accept their own version and refuse newer ones with a clear error;
/// a change that old readers would misread bumps it.
/// </summary>
public static class ContractsInfo
{
    public const int Version = 1;
}
