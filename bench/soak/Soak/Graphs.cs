using System.Text.Json;
using System.Text.Json.Nodes;

namespace BuildFarm.Soak;

/// <summary>One `buildfarm build` client's targets (the invariants find the rest of its graph in the dispatcher's database).</summary>
internal sealed record GraphSpec(string Name, IReadOnlyList<string> Targets);

/// <summary>
/// The stream of graphs: each round writes two small graphs of one-second busybox derivations into the origin store
/// with <c>buildfarm drv add</c>. Both graphs share a fresh leaf (two clients race for one derivation), graph A is a
/// diamond over it, and graph B also uses the previous round's top (already built: skipped, but a worker that lacks
/// its output fetches it from the origin).
/// </summary>
internal sealed class Graphs(Farm farm, string work, int seed)
{
    private string _busybox = "";
    private string? _previousTop;

    public async Task PrepareAsync(CancellationToken ct)
    {
        var dir = Path.Combine(work, "soak-busybox");
        Directory.CreateDirectory(dir);
        File.Copy("/bin/busybox", Path.Combine(dir, "busybox"), overwrite: true);
        var added = await CliAsync(["store", "add", dir], ct);
        _busybox = added.Trim();
        // Workers take inputs signed by the dispatcher's key (what ./farm demo and bench/throughput do).
        await CliAsync(["store", "sign", "--key-file", farm.DispatcherKey, _busybox], ct);
    }

    public async Task<(GraphSpec A, GraphSpec B)> NextAsync(int round, CancellationToken ct)
    {
        var nonce = $"soak-{seed}-{round}";
        JsonObject Node(string name, params (string Key, JsonObject Input)[] inputs)
        {
            var refs = string.Join(' ', inputs.Select(i => $"{{{{inputs.{i.Key}}}}}"));
            var drvs = new JsonObject();
            foreach (var (key, input) in inputs)
                drvs[key] = input;
            return new JsonObject
            {
                ["name"] = $"{nonce}-{name}", ["system"] = "x86_64-linux", ["builder"] = $"{_busybox}/busybox",
                ["args"] = new JsonArray("sh", "-c", $"{_busybox}/busybox sleep 1 && echo {nonce}-{name} {refs} > $out"),
                ["inputSrcs"] = new JsonArray(_busybox), ["inputDrvs"] = drvs,
            };
        }

        JsonObject Spec(JsonObject spec) => new() { ["spec"] = spec };
        JsonObject Drv(string path) => new() { ["drv"] = path };
        var leaf = Node("shared");
        var a = Node("a3", ("x", Spec(Node("a1", ("s", Spec(leaf.DeepClone().AsObject()))))), ("y", Spec(Node("a2", ("s", Spec(leaf.DeepClone().AsObject()))))));
        var bInputs = new List<(string, JsonObject)> { ("b", Spec(Node("b1", ("s", Spec(leaf.DeepClone().AsObject()))))) };
        if (_previousTop is not null)
            bInputs.Add(("p", Drv(_previousTop)));
        var b = Node("b2", [.. bInputs]);
        var aPath = await AddAsync(a, $"{nonce}-a.json", ct);
        var bPath = await AddAsync(b, $"{nonce}-b.json", ct);
        _previousTop = aPath;
        // The derivations this round adds: 4 in A (leaf, a1, a2, a3), 2 more in B (b1, b2).
        return (new GraphSpec("A", [aPath]), new GraphSpec("B", [bPath]));
    }

    private async Task<string> AddAsync(JsonObject spec, string file, CancellationToken ct)
    {
        var path = Path.Combine(work, "specs", file);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        await File.WriteAllTextAsync(path, spec.ToJsonString(new JsonSerializerOptions { WriteIndented = true }), ct);
        return (await CliAsync(["drv", "add", path], ct)).Trim();
    }

    private async Task<string> CliAsync(IEnumerable<string> args, CancellationToken ct)
    {
        var r = await Shell.RunAsync(farm.Cli, ["--store-dir", "/nix/store", "--root", farm.OriginRoot, .. args], ct);
        if (r.ExitCode != 0)
            throw new InvalidOperationException($"buildfarm {string.Join(' ', args)}: {r.Tail}");
        return r.Stdout;
    }
}
