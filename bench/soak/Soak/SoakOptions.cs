using System.Globalization;

namespace BuildFarm.Soak;

/// <summary>
/// The soak's command line. <see cref="NetnsWorker"/> runs in the network namespace <see cref="Netns"/> whose host end is
/// <see cref="Veth"/> (the network cut rejects its traffic there, in the nft table <see cref="CutTable"/>);
/// <see cref="DiskWorker"/>'s directory is the tmpfs <see cref="DiskMount"/> (the disk-full faults fill it). Without
/// them, those faults are never drawn.
/// </summary>
internal sealed record SoakOptions(int Faults, int Seed, string FarmDir, string BinDir, string WorkDir, string HoldDir, IReadOnlyList<string> Workers, TimeSpan Lease, TimeSpan? Budget)
{
    public string? NetnsWorker { get; init; }

    public string? Netns { get; init; }

    public string? Veth { get; init; }

    public string? CutTable { get; init; }

    public string? DiskWorker { get; init; }

    public string? DiskMount { get; init; }

    /// <summary>Only these kinds are drawn (<c>--kinds NetworkCut,ClockSkew</c>: replaying one fault); empty = all.</summary>
    public IReadOnlyList<FaultKind> Kinds { get; init; } = [];

    /// <summary>A round that has not ended by then fails the run, naming the stage it was stuck in.</summary>
    public TimeSpan RoundLimit { get; init; } = TimeSpan.FromMinutes(4);

    public static SoakOptions? Parse(string[] args)
    {
        int? faults = null;
        var seed = 1;
        string? farm = null, bin = null, work = null, holds = null, netnsWorker = null, netns = null, veth = null, cutTable = null, diskWorker = null, diskMount = null;
        string[] workers = ["w1", "w2"];
        var lease = TimeSpan.FromSeconds(8);
        var roundLimit = TimeSpan.FromMinutes(4);
        TimeSpan? budget = null;
        FaultKind[] kinds = [];
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
                case "--round-minutes": roundLimit = TimeSpan.FromMinutes(double.Parse(Value(), CultureInfo.InvariantCulture)); break;
                case "--lease-seconds": lease = TimeSpan.FromSeconds(int.Parse(Value(), CultureInfo.InvariantCulture)); break;
                case "--netns-worker": netnsWorker = Value(); break;
                case "--netns": netns = Value(); break;
                case "--veth": veth = Value(); break;
                case "--cut-table": cutTable = Value(); break;
                case "--disk-worker": diskWorker = Value(); break;
                case "--disk-mount": diskMount = Value(); break;
                case "--kinds": kinds = [.. Value().Split(',').Select(Enum.Parse<FaultKind>)]; break;
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
            : new SoakOptions(faults.Value, seed, farm, bin, work, holds, workers, lease, budget)
            {
                NetnsWorker = netnsWorker, Netns = netns, Veth = veth, CutTable = cutTable, DiskWorker = diskWorker, DiskMount = diskMount,
                RoundLimit = roundLimit, Kinds = kinds,
            };
    }
}
