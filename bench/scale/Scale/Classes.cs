using BuildFarm.Contracts.Workers;

namespace BuildFarm.Scale;

/// <summary>
/// The 20 capability classes: 5 systems × 4 feature sets (none, kvm, big-parallel, both). Worker i runs system i mod 5
/// with, by (i / 5) mod 3, both features (4 classes), kvm only or big-parallel only (2 classes): the first five
/// workers cover every class, later ones overlap them unevenly, and speed factors differ so consumer priorities do.
/// </summary>
internal static class Classes
{
    public static readonly string[] Systems = ["x86_64-linux", "aarch64-linux", "i686-linux", "riscv64-linux", "armv7l-linux"];

    public static readonly string[][] FeatureSets = [[], ["kvm"], ["big-parallel"], ["big-parallel", "kvm"]];

    public const int Count = 20;

    public static (string System, string[] Features) Of(int build) => (Systems[build % 5], FeatureSets[build / 5 % 4]);

    public static WorkerCapabilities Worker(int index, int slots)
    {
        string[] features = (index / 5 % 3) switch
        {
            0 => ["big-parallel", "kvm"],
            1 => ["kvm"],
            _ => ["big-parallel"],
        };
        return new WorkerCapabilities([Systems[index % 5]], features, [], slots, 1 + (index % 4) * 0.5);
    }
}
