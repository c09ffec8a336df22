using System.Globalization;
using System.Text.Json;
using BuildFarm.Contracts;
using BuildFarm.Contracts.Builds;
using BuildFarm.Contracts.Workers;

namespace BuildFarm.Messaging.Routing;

/// <summary>
/// Keeps build requests off workers that do not speak their contract version, with the capability routing alone, as
/// <see cref="TrustedRouting"/> does for sandboxes: a request of version N above <see cref="UnmarkedVersion"/> is routed
/// by its class plus the reserved feature <c>buildfarm-contract-N</c> (<see cref="Marker"/>); a version-2 request carries
/// no mark (the class queues predate versioned routing, so a farm upgraded to this release keeps its queues). A worker
/// declares the marks of the versions it speaks: supported when it speaks several (it consumes both kinds of queue),
/// mandatory when it speaks only one newer version. A worker that predates the marks declares none: it speaks 2. The
/// dispatcher reads the marks from the capabilities every heartbeat carries (signed, in the version-2 format, so any
/// dispatcher reads them), and publishes each request at a version a capable worker speaks.
/// </summary>
public static class ContractRouting
{
    /// <summary>The version whose requests carry no mark.</summary>
    public const int UnmarkedVersion = 2;

    /// <summary>Prefix of the reserved marks (<c>buildfarm-contract-3</c>, …).</summary>
    public const string FeaturePrefix = "buildfarm-contract-";

    /// <summary>The mark of <paramref name="version"/>, or null for <see cref="UnmarkedVersion"/> and older.</summary>
    public static string? Marker(int version) =>
        version <= UnmarkedVersion ? null : FeaturePrefix + version.ToString(CultureInfo.InvariantCulture);

    /// <summary>The class a request of <paramref name="version"/> is routed by: its trusted-aware class plus the version's mark.</summary>
    public static BuildClass ClassOf(BuildDerivation request, int version) => ClassOf(TrustedRouting.ClassOf(request), version);

    /// <summary><paramref name="buildClass"/> (without marks) as routed at <paramref name="version"/>.</summary>
    public static BuildClass ClassOf(BuildClass buildClass, int version) =>
        Marker(version) is { } mark ? new BuildClass(buildClass.System, buildClass.Features.Append(mark)) : buildClass;

    /// <summary>
    /// What a worker declares (and consumes by) when it speaks <paramref name="versions"/>: the marks of the newer ones
    /// supported when it speaks several, mandatory when it speaks exactly one newer version.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="versions"/> is empty, or names several versions without 2.</exception>
    public static WorkerCapabilities Declared(WorkerCapabilities capabilities, IReadOnlyCollection<int> versions)
    {
        var plain = Unversioned(capabilities);
        var marks = versions.Distinct().Order().Select(Marker).OfType<string>().ToArray();
        if (versions.Count == 0)
            throw new ArgumentException("a worker speaks at least one contract version", nameof(versions));
        if (!versions.Any(v => v <= UnmarkedVersion) && marks.Length > 1)
        {
            throw new ArgumentException(
                $"contract versions {string.Join(',', versions)} cannot be routed: a worker speaks version {UnmarkedVersion} or exactly one newer version", nameof(versions));
        }

        return versions.All(v => v > UnmarkedVersion)
            ? plain with { MandatoryFeatures = [.. plain.MandatoryFeatures, .. marks] }
            : plain with { SupportedFeatures = [.. plain.SupportedFeatures, .. marks] };
    }

    /// <summary>The versions a worker speaks, read from its declared marks (none: <see cref="UnmarkedVersion"/> alone).</summary>
    public static IReadOnlyList<int> VersionsOf(WorkerCapabilities capabilities)
    {
        var mandatory = capabilities.MandatoryFeatures.Select(VersionOf).OfType<int>().ToArray();
        if (mandatory.Length > 0)
            return [.. mandatory.Order()];
        return [UnmarkedVersion, .. capabilities.SupportedFeatures.Select(VersionOf).OfType<int>().Distinct().Order()];
    }

    /// <summary>True when a worker with <paramref name="capabilities"/> takes <paramref name="buildClass"/> (without marks) at <paramref name="version"/>.</summary>
    public static bool CanRun(WorkerCapabilities capabilities, BuildClass buildClass, int version) =>
        CapabilityMatcher.CanRun(capabilities, ClassOf(buildClass, version));

    /// <summary>True when a worker could run <paramref name="buildClass"/> at some version: what capacity checks ask.</summary>
    public static bool CanRunAnyVersion(WorkerCapabilities capabilities, BuildClass buildClass) =>
        CapabilityMatcher.CanRun(Unversioned(capabilities), Unversioned(buildClass));

    /// <summary>The capabilities without contract marks.</summary>
    public static WorkerCapabilities Unversioned(WorkerCapabilities capabilities) => capabilities with
    {
        SupportedFeatures = [.. capabilities.SupportedFeatures.Where(f => VersionOf(f) is null)],
        MandatoryFeatures = [.. capabilities.MandatoryFeatures.Where(f => VersionOf(f) is null)],
    };

    /// <summary>The class without contract marks.</summary>
    public static BuildClass Unversioned(BuildClass buildClass) =>
        buildClass.Features.Any(f => VersionOf(f) is not null) ? new BuildClass(buildClass.System, buildClass.Features.Where(f => VersionOf(f) is null)) : buildClass;

    /// <summary>Null when <paramref name="features"/> names no contract mark; otherwise why it may not.</summary>
    public static string? ReservedFeatureProblem(IEnumerable<string> features) =>
        features.FirstOrDefault(f => f.StartsWith(FeaturePrefix, StringComparison.Ordinal)) is { } f
            ? $"the feature '{f}' is reserved: features starting with '{FeaturePrefix}' route requests by contract version, which the farm adds itself"
            : null;

    /// <summary>
    /// Reads the build id and attempt from a request whose version this reader does not speak (they never change
    /// between versions, <see cref="ContractsInfo"/>), so its refusal can name the build. Null when they are not there.
    /// </summary>
    public static (Guid BuildId, int Attempt)? IdentityOf(string requestJson)
    {
        try
        {
            using var doc = JsonDocument.Parse(requestJson);
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                return null;
            Guid? id = null;
            int? attempt = null;
            foreach (var p in doc.RootElement.EnumerateObject())
            {
                if (p.NameEquals("buildId") && p.Value.ValueKind == JsonValueKind.String && p.Value.TryGetGuid(out var g))
                    id = g;
                else if (p.NameEquals("attempt") && p.Value.ValueKind == JsonValueKind.Number && p.Value.TryGetInt32(out var a))
                    attempt = a;
            }

            return id is { } i && attempt is { } n ? (i, n) : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static int? VersionOf(string feature) =>
        feature.StartsWith(FeaturePrefix, StringComparison.Ordinal)
        && int.TryParse(feature.AsSpan(FeaturePrefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out var v) && v > UnmarkedVersion
            ? v : null;
}
