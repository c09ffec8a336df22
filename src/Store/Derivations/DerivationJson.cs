using BuildFarm.Store.Paths;

namespace BuildFarm.Store.Derivations;

/// <summary>
/// The JSON that Nix 2.8's <c>nix show-derivation</c> prints, byte for byte: an object keyed by <c>.drv</c> path,
/// written with Nix's own writer (<see cref="NixJsonWriter"/>), so strings that are not UTF-8 come out as their raw
/// bytes, exactly as Nix prints them.
/// </summary>
public static class DerivationJson
{
    public static byte[] SerializeBytes(IEnumerable<KeyValuePair<StorePath, Derivation>> derivations)
    {
        var w = new NixJsonWriter(indent: true);
        w.StartObject();
        foreach (var (path, drv) in derivations.OrderBy(d => d.Key, StorePath.Ordinal))
        {
            w.StartObject(path.FullPath);
            Write(w, drv);
            w.EndObject();
        }

        w.EndObject();
        return w.ToArray();
    }

    /// <summary>The same JSON as a string; bytes that are not UTF-8 are carried as <see cref="NixBytes"/> escapes.</summary>
    public static string Serialize(IEnumerable<KeyValuePair<StorePath, Derivation>> derivations) =>
        NixBytes.Decode(SerializeBytes(derivations));

    public static string Serialize(StorePath drvPath, Derivation drv) => Serialize([KeyValuePair.Create(drvPath, drv)]);

    public static byte[] SerializeBytes(StorePath drvPath, Derivation drv) => SerializeBytes([KeyValuePair.Create(drvPath, drv)]);

    private static void Write(NixJsonWriter w, Derivation drv)
    {
        w.StartObject("outputs");
        foreach (var (id, output) in drv.Outputs)
        {
            w.StartObject(id);
            if (output.Path is not null)
                w.String("path", output.Path.FullPath);
            if (output.HashAlgo.Length > 0)
                w.String("hashAlgo", output.HashAlgo);
            if (output.Kind == DerivationOutputKind.Fixed)
                w.String("hash", output.Hash);
            if (output.Kind == DerivationOutputKind.Impure)
                w.Bool("impure", true);
            w.EndObject();
        }

        w.EndObject();
        w.StartArray("inputSrcs");
        foreach (var src in drv.InputSrcs)
            w.StringValue(src.FullPath);
        w.EndArray();
        w.StartObject("inputDrvs");
        foreach (var (path, outputs) in drv.InputDrvs)
        {
            w.StartArray(path.FullPath);
            foreach (var o in outputs)
                w.StringValue(o);
            w.EndArray();
        }

        w.EndObject();
        w.String("system", drv.System);
        w.String("builder", drv.Builder);
        w.StartArray("args");
        foreach (var a in drv.Args)
            w.StringValue(a);
        w.EndArray();
        w.StartObject("env");
        foreach (var (k, v) in drv.Env)
            w.String(k, v);
        w.EndObject();
    }
}
