using BuildFarm.Contracts.Builds;
using BuildFarm.Contracts.Workers;

namespace BuildFarm.Messaging.Routing;

/// <summary>
/// Keeps untrusted builds off workers without a sandbox, with the capability routing alone (no reject and requeue):
/// a build an operator marked trusted is routed by its features plus <see cref="Feature"/>; a worker that runs
/// builders unsandboxed declares <see cref="Feature"/> mandatory, so it consumes only those classes; a sandboxed
/// worker declares it supported, so it consumes both. Derivations and worker configs may not name the feature:
/// only the dispatcher's signed request (<see cref="BuildDerivation.Trusted"/>) puts a build in a trusted class.
/// </summary>
public static class TrustedRouting
{
    /// <summary>The routing feature of trusted builds (reserved: never a derivation's or a config's own).</summary>
    public const string Feature = "buildfarm-trusted";

    /// <summary>The class a build is routed by: its system and features, plus <see cref="Feature"/> when trusted.</summary>
    public static BuildClass ClassOf(string system, IEnumerable<string> features, bool trusted) =>
        new(system, trusted ? features.Append(Feature) : features);

    /// <summary>The class of a request on the queues.</summary>
    public static BuildClass ClassOf(BuildDerivation request) => ClassOf(request.System, request.RequiredFeatures, request.Trusted);

    /// <summary>
    /// What a worker declares (and consumes by) given its configured capabilities and how it runs builders: sandboxed
    /// workers support <see cref="Feature"/>; unsandboxed ones (and ones that run nothing) make it mandatory.
    /// </summary>
    public static WorkerCapabilities Declared(WorkerCapabilities configured, BuildIsolation isolation) =>
        isolation == BuildIsolation.Sandboxed
            ? configured with { SupportedFeatures = [.. configured.SupportedFeatures.Where(f => f != Feature), Feature] }
            : configured with { MandatoryFeatures = [.. configured.MandatoryFeatures.Where(f => f != Feature), Feature] };

    /// <summary>
    /// Null when <paramref name="features"/> names no reserved routing feature (this one, or a contract mark of
    /// <see cref="ContractRouting"/>); otherwise why it may not.
    /// </summary>
    public static string? ReservedFeatureProblem(IEnumerable<string> features)
    {
        var list = features as IReadOnlyCollection<string> ?? [.. features];
        return list.Contains(Feature, StringComparer.Ordinal)
            ? $"the feature '{Feature}' is reserved: the farm adds it to the routing of builds an operator submits with --trusted (API: \"trusted\": true), and to what workers declare"
            : ContractRouting.ReservedFeatureProblem(list);
    }
}
