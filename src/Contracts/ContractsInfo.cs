namespace BuildFarm.Contracts;

/// <summary>
/// Version of the message contracts. Readers accept the versions they speak and refuse others with a clear error;
/// a change that old readers would misread bumps it.
/// </summary>
/// <remarks>
/// <para>
/// Version 2: build requests carry a signed <c>IssuedAt</c> (the signature covers it and the request), worker events
/// carry the worker's signature and control commands the dispatcher's (both with <c>Signature</c>, optional in the
/// records so that a version-1 message still deserialises and is then refused by name, never crashes a reader).
/// </para>
/// <para>
/// Upgrades: a release speaks its own version and the one before (<see cref="MinimumVersion"/> is at most
/// <see cref="Version"/> − 1 from version 3 on), so a dispatcher and workers one version apart work together. The
/// envelope of a build request (<c>SignedBuildRequest</c>: <c>Version</c>, <c>RequestJson</c>, <c>Signature</c>,
/// <c>IssuedAt</c>, and the text its signature covers) and the <c>buildId</c> and <c>attempt</c> members of the request
/// JSON never change between versions: they are how a worker names the build of a request whose version it does not
/// speak when it refuses it (BuildFarm.Messaging.Routing.ContractRouting). Versions 1 and 2 are the exception: version 1
/// was unsigned and is refused.
/// </para>
/// </remarks>
public static class ContractsInfo
{
    public const int Version = 2;

    /// <summary>The oldest version this release reads and writes.</summary>
    public const int MinimumVersion = 2;

    /// <summary>The first version whose requests, events and commands are all signed; older ones are refused.</summary>
    public const int SignedMessagesVersion = 2;

    /// <summary>Every version this release speaks, oldest first: <see cref="MinimumVersion"/> to <see cref="Version"/>.</summary>
    public static IReadOnlyList<int> Spoken { get; } = [.. Enumerable.Range(MinimumVersion, Version - MinimumVersion + 1)];
}
