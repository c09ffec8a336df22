namespace BuildFarm.Contracts;

/// <summary>
/// Version of the message contracts. Readers accept their own version and refuse newer ones with a clear error;
/// a change that old readers would misread bumps it.
/// </summary>
/// <remarks>
/// Version 2: build requests carry a signed <c>IssuedAt</c> (the signature covers it and the request), worker events
/// carry the worker's signature and control commands the dispatcher's (both with <c>Signature</c>, optional in the
/// records so that a version-1 message still deserialises and is then refused by name, never crashes a reader).
/// </remarks>
public static class ContractsInfo
{
    public const int Version = 2;

    /// <summary>The first version whose requests, events and commands are all signed; older ones are refused.</summary>
    public const int SignedMessagesVersion = 2;
}
