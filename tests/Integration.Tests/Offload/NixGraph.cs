using BuildFarm.Testing;

namespace BuildFarm.Integration.Tests.Offload;

/// <summary>
/// The fixture graph <c>Fixtures/nix/graph.nix</c> instantiated by the real <c>nix-instantiate</c> into the host's
/// /nix/store, and built by the real <c>nix-store --realise</c> for reference NAR hashes. The builder is a static
/// busybox added with <c>nix-store --add</c>.
/// </summary>
internal sealed class NixGraph
{
    /// <summary>The attributes every test builds: four leaves, the multi-output <c>multi</c>, two mids and <c>top</c>.</summary>
    public static readonly string[] GraphAttributes = ["leaf-a", "leaf-b", "leaf-c", "leaf-d", "multi", "mid-1", "mid-2", "top"];

    private NixGraph(string busybox, string salt, string feature, IReadOnlyDictionary<string, string> drvs)
    {
        Busybox = busybox;
        Salt = salt;
        Feature = feature;
        Drvs = drvs;
    }

    public static string ExpressionFile => Path.Combine(RepoPaths.Root, "tests", "Integration.Tests", "Fixtures", "nix", "graph.nix");

    /// <summary>The busybox source path (<c>/nix/store/…-busybox</c>), an input source of every derivation.</summary>
    public string Busybox { get; }

    public string Salt { get; }

    /// <summary>The system feature the <c>routed</c> attribute requires.</summary>
    public string Feature { get; }

    /// <summary>Attribute name → .drv store path.</summary>
    public IReadOnlyDictionary<string, string> Drvs { get; }

    public string Drv(string attribute) => Drvs[attribute];

    /// <summary>The graph's top-level .drv files (everything else is in their closure).</summary>
    public IEnumerable<string> GraphDrvs => GraphAttributes.Select(Drv);

    /// <summary>
    /// Adds busybox to the host store (a folder with bin/busybox and bin/sh -> busybox) and instantiates
    /// <paramref name="attributes"/>; a different <paramref name="salt"/> gives a disjoint graph.
    /// </summary>
    public static async Task<NixGraph> InstantiateAsync(string scratch, string salt, string feature, params string[] attributes)
    {
        var busybox = await AddBusyboxAsync(scratch);
        var args = new List<string> { ExpressionFile, "--argstr", "busybox", busybox, "--argstr", "salt", salt, "--argstr", "feature", feature };
        foreach (var a in attributes)
            args.AddRange(["-A", a]);
        var result = await ProcessRunner.RunAsync("nix-instantiate", args);
        result.EnsureSuccess("nix-instantiate " + ExpressionFile);
        var paths = result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (paths.Length != attributes.Length)
            throw new InvalidOperationException($"nix-instantiate printed {paths.Length} paths for {attributes.Length} attributes: {result.Stdout}");
        return new NixGraph(busybox, salt, feature, attributes.Zip(paths).ToDictionary(p => p.First, p => p.Second));
    }

    /// <summary>The .drv closure of <paramref name="drvs"/> (derivations and sources, e.g. busybox) by <c>nix-store -qR</c>.</summary>
    public static async Task<string[]> DrvClosureAsync(IEnumerable<string> drvs)
    {
        var text = await NixOracle.RunTextAsync("nix-store", ["-qR", .. drvs]);
        return text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
    }

    /// <summary>
    /// Builds <paramref name="drvs"/> with the real Nix and returns output path → NAR hash (<c>nix-store -q --hash</c>)
    /// for every output of every derivation in their closure. Nix caches: a second call is cheap.
    /// </summary>
    public async Task<IReadOnlyDictionary<string, string>> ReferenceHashesAsync(IEnumerable<string> drvs)
    {
        var drvList = drvs.ToArray();
        var realise = await ProcessRunner.RunAsync(
            "nix-store",
            ["--realise", "--max-jobs", "4", "--option", "system-features", Feature, .. drvList],
            timeout: TimeSpan.FromMinutes(3));
        realise.EnsureSuccess("nix-store --realise (reference build)");
        var closure = (await DrvClosureAsync(drvList)).Where(p => p.EndsWith(".drv", StringComparison.Ordinal)).ToArray();
        var outputs = await NixOracle.RunTextAsync("nix-store", ["-q", "--outputs", .. closure]);
        var hashes = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var output in outputs.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Distinct())
            hashes[output] = await NixOracle.RunTextAsync("nix-store", "-q", "--hash", output);
        return hashes;
    }

    private static async Task<string> AddBusyboxAsync(string scratch)
    {
        var dir = Path.Combine(scratch, "busybox");
        Directory.CreateDirectory(Path.Combine(dir, "bin"));
        var target = Path.Combine(dir, "bin", "busybox");
        if (!File.Exists(target))
            File.Copy("/bin/busybox", target);
        if (!File.Exists(Path.Combine(dir, "bin", "sh")))
            File.CreateSymbolicLink(Path.Combine(dir, "bin", "sh"), "busybox");
        return await NixOracle.RunTextAsync("nix-store", "--add", dir);
    }
}
