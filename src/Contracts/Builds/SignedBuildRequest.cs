namespace BuildFarm.Contracts.Builds;

/// <summary>
/// What actually travels on a build queue: a <see cref="BuildDerivation"/> serialised to JSON, and the dispatcher's
/// Ed25519 signature (<c>keyname:base64</c>) over exactly those UTF-8 bytes. Workers verify the signature against
/// their trusted dispatcher keys before they parse the request, so a forged request is never even deserialised.
/// </summary>
/// <param name="Version">Contract version (<see cref="ContractsInfo.Version"/>).</param>
/// <param name="RequestJson">The serialised <see cref="BuildDerivation"/>.</param>
/// <param name="Signature"><c>keyname:base64</c> signature of <paramref name="RequestJson"/>'s UTF-8 bytes.</param>
public sealed record SignedBuildRequest(int Version, string RequestJson, string Signature);
