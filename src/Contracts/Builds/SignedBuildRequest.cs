namespace BuildFarm.Contracts.Builds;

/// <summary>
/// What actually travels on a build queue: a <see cref="BuildDerivation"/> serialised to JSON, when the dispatcher
/// issued this copy, and the dispatcher's Ed25519 signature (<c>keyname:base64</c>) over both
/// (<see cref="SignedText"/>). Workers verify the signature against their trusted dispatcher keys before they parse
/// the request, so a forged request is never even deserialised, and refuse a copy issued longer ago than their
/// maximum age, so a request recorded long ago cannot be replayed.
/// </summary>
/// <param name="Version">Contract version (<see cref="ContractsInfo.Version"/>).</param>
/// <param name="RequestJson">The serialised <see cref="BuildDerivation"/>.</param>
/// <param name="Signature"><c>keyname:base64</c> signature of <see cref="SignedText"/>'s UTF-8 bytes.</param>
/// <param name="IssuedAt">
/// The dispatcher's clock when it signed this copy (each publish, including a republish, signs a fresh one). Added in
/// contract version 2: null from an older dispatcher, whose requests a version-2 worker refuses by name.
/// </param>
public sealed record SignedBuildRequest(int Version, string RequestJson, string Signature, DateTimeOffset? IssuedAt = null)
{
    /// <summary>
    /// What <see cref="Signature"/> signs: the issue time (UTC ticks) and the request text. Its prefix keeps it apart
    /// from Nix's narinfo fingerprint and from event signatures, so no signature can stand in for another kind.
    /// </summary>
    public static string SignedText(DateTimeOffset issuedAt, string requestJson) =>
        string.Create(System.Globalization.CultureInfo.InvariantCulture, $"buildfarm-request;2;{issuedAt.UtcTicks};{requestJson}");
}
