using BuildFarm.Contracts.Workers;

namespace BuildFarm.Messaging.Routing;

/// <summary>Nix's rule for which machine may take which build.</summary>
public static class CapabilityMatcher
{
    /// <summary>The most classes a worker may enumerate (2^features per system); beyond this config is refused.</summary>
    public const int MaxClassesPerWorker = 1024;

    /// <summary>
    /// A machine can take a build when the system is one of its systems, every required feature is supported or
    /// mandatory, and every mandatory feature is required.
    /// </summary>
    public static bool CanRun(WorkerCapabilities machine, BuildClass build)
    {
        if (!machine.Systems.Contains(build.System, StringComparer.Ordinal))
            return false;
        var offered = machine.SupportedFeatures.Concat(machine.MandatoryFeatures).ToHashSet(StringComparer.Ordinal);
        return build.Features.All(offered.Contains)
            && machine.MandatoryFeatures.All(m => build.Features.Contains(m, StringComparer.Ordinal));
    }

    /// <summary>
    /// Every class the machine can run: per system, each subset of its supported features joined with all of
    /// its mandatory ones. A worker consumes exactly these queues.
    /// </summary>
    public static IReadOnlyList<BuildClass> EnumerateClasses(WorkerCapabilities machine)
    {
        var optional = machine.SupportedFeatures.Except(machine.MandatoryFeatures, StringComparer.Ordinal)
            .Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToArray();
        var perSystem = 1L << Math.Min(optional.Length, 62);
        if (perSystem * machine.Systems.Count > MaxClassesPerWorker)
            throw new ArgumentException(
                $"{machine.Systems.Count} systems with {optional.Length} optional features give {perSystem * machine.Systems.Count} routing classes; at most {MaxClassesPerWorker} are supported");
        var classes = new List<BuildClass>();
        foreach (var system in machine.Systems.Distinct(StringComparer.Ordinal))
        {
            for (var mask = 0L; mask < perSystem; mask++)
            {
                var features = machine.MandatoryFeatures.Concat(optional.Where((_, i) => (mask & (1L << i)) != 0));
                classes.Add(new BuildClass(system, features));
            }
        }

        return classes;
    }
}
