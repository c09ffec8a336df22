using System.Globalization;

namespace BuildFarm.Soak;

internal sealed record SoakOptions(int Faults, int Seed, string FarmDir, string BinDir, string WorkDir, string HoldDir, IReadOnlyList<string> Workers, TimeSpan Lease, TimeSpan? Budget)
{
    public static SoakOptions? Parse(string[] args)
    {
        int? faults = null;
        var seed = 1;
        string? farm = null, bin = null, work = null, holds = null;
        string[] workers = ["w1", "w2"];
        var lease = TimeSpan.FromSeconds(8);
        TimeSpan? budget = null;
        for (var i = 0; i < args.Length; i++)
        {
            string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            switch (args[i])
            {
                case "--seed": seed = int.Parse(Value(), CultureInfo.InvariantCulture); break;
                case "--farm": farm = Value(); break;
                case "--bin": bin = Value(); break;
                case "--work": work = Value(); break;
                case "--holds": holds = Value(); break;
                case "--workers": workers = Value().Split(','); break;
                case "--minutes": budget = TimeSpan.FromMinutes(int.Parse(Value(), CultureInfo.InvariantCulture)); break;
                case "--lease-seconds": lease = TimeSpan.FromSeconds(int.Parse(Value(), CultureInfo.InvariantCulture)); break;
                default:
                    if (faults is null && int.TryParse(args[i], NumberStyles.None, CultureInfo.InvariantCulture, out var n))
                        faults = n;
                    else
                        return null;
                    break;
            }
        }

        return faults is null || farm is null || bin is null || work is null || holds is null
            ? null
            : new SoakOptions(faults.Value, seed, farm, bin, work, holds, workers, lease, budget);
    }
}
