using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using BuildFarm.Store.Paths;

namespace BuildFarm.Store.Derivations;

/// <summary>The JSON that Nix 2.8's <c>nix show-derivation</c> prints: an object keyed by <c>.drv</c> path.</summary>
public static class DerivationJson
{
    private static readonly JsonWriterOptions Options = new()
    {
        Indented = true,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public static string Serialize(IEnumerable<KeyValuePair<StorePath, Derivation>> derivations)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, Options))
        {
            w.WriteStartObject();
            foreach (var (path, drv) in derivations.OrderBy(d => d.Key, StorePath.Ordinal))
            {
                w.WritePropertyName(path.FullPath);
                Write(w, drv);
            }

            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    public static string Serialize(StorePath drvPath, Derivation drv) => Serialize([KeyValuePair.Create(drvPath, drv)]);

    /// <summary>Writes one derivation's object (the value under its <c>.drv</c> path).</summary>
    public static void Write(Utf8JsonWriter w, Derivation drv)
    {
        w.WriteStartObject();
        w.WriteStartObject("outputs");
        foreach (var (id, output) in drv.Outputs)
        {
            w.WriteStartObject(id);
            if (output.Path is not null)
                w.WriteString("path", output.Path.FullPath);
            if (output.HashAlgo.Length > 0)
                w.WriteString("hashAlgo", output.HashAlgo);
            if (output.Kind == DerivationOutputKind.Fixed)
                w.WriteString("hash", output.Hash);
            w.WriteEndObject();
        }

        w.WriteEndObject();
        w.WriteStartArray("inputSrcs");
        foreach (var src in drv.InputSrcs)
            w.WriteStringValue(src.FullPath);
        w.WriteEndArray();
        w.WriteStartObject("inputDrvs");
        foreach (var (path, outputs) in drv.InputDrvs)
        {
            w.WriteStartArray(path.FullPath);
            foreach (var o in outputs)
                w.WriteStringValue(o);
            w.WriteEndArray();
        }

        w.WriteEndObject();
        w.WriteString("system", drv.System);
        w.WriteString("builder", drv.Builder);
        w.WriteStartArray("args");
        foreach (var a in drv.Args)
            w.WriteStringValue(a);
        w.WriteEndArray();
        w.WriteStartObject("env");
        foreach (var (k, v) in drv.Env)
            w.WriteString(k, v);
        w.WriteEndObject();
        w.WriteEndObject();
    }
}
