using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using BuildFarm.Store.Derivations;

namespace BuildFarm.Worker.Derivations;

/// <summary>
/// Nix 2.8's <c>__structuredAttrs</c> files: <c>.attrs.json</c> is the <c>__json</c> attribute with <c>outputs</c>
/// (id → path) and each <c>exportReferencesGraph</c> entry (as path-info JSON) added, dumped the way nlohmann::json
/// dumps (compact, keys in byte order); <c>.attrs.sh</c> declares every attribute bash can represent
/// (<c>writeStructuredAttrsShell</c>).
/// </summary>
internal static partial class StructuredAttrs
{
    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]*$")]
    private static partial Regex ShellName();

    /// <summary><c>prepareStructuredAttrs</c>: the JSON the builder sees.</summary>
    public static JsonObject Prepare(
        JsonObject attrs, IReadOnlyDictionary<string, string> outputs, IReadOnlySet<string> inputPaths, IReadOnlyDictionary<string, PathFacts> facts)
    {
        var json = (JsonObject)attrs.DeepClone();
        var outs = new JsonObject();
        foreach (var (id, path) in outputs)
            outs[id] = path;
        json["outputs"] = outs;
        if (json["exportReferencesGraph"] is JsonObject graphs)
        {
            foreach (var (name, roots) in graphs)
            {
                var rootPaths = roots is JsonArray a ? a.Select(r => r!.GetValue<string>()) : [roots!.GetValue<string>()];
                var list = new JsonArray();
                foreach (var p in ReferenceGraph.Closure(rootPaths, inputPaths, facts))
                {
                    var info = facts[p];
                    // getClosureSize: the plain closure, no derivation outputs added.
                    var closureSize = ReferenceGraph.FsClosure([p], facts).Sum(q => facts[q].NarSize);
                    var entry = new JsonObject
                    {
                        ["path"] = p,
                        ["narHash"] = info.NarHash,
                        ["narSize"] = info.NarSize,
                        ["references"] = new JsonArray([.. info.References.Order(StringComparer.Ordinal).Select(r => (JsonNode)r)]),
                        ["closureSize"] = closureSize,
                    };
                    if (info.Ca is not null)
                        entry["ca"] = info.Ca;
                    list.Add(entry);
                }

                json[name] = list;
            }
        }

        return json;
    }

    /// <summary>nlohmann::json's <c>dump()</c>: no spaces, object keys sorted by bytes.</summary>
    public static byte[] Dump(JsonNode? node)
    {
        var s = new StringBuilder();
        Dump(s, node);
        return NixBytes.Encode(s.ToString());
    }

    /// <summary><c>writeStructuredAttrsShell</c>.</summary>
    public static byte[] Shell(JsonObject json)
    {
        var sh = new StringBuilder();
        foreach (var (key, value) in Sorted(json))
        {
            if (!ShellName().IsMatch(key))
                continue;
            if (Simple(value) is { } simple)
            {
                sh.Append("declare ").Append(key).Append('=').Append(simple).Append('\n');
            }
            else if (value is JsonArray array)
            {
                var items = array.Select(Simple).ToList();
                if (items.All(i => i is not null))
                    sh.Append("declare -a ").Append(key).Append("=(").Append(string.Concat(items.Select(i => i + " "))).Append(")\n");
            }
            else if (value is JsonObject obj)
            {
                var items = Sorted(obj).Select(kv => (kv.Key, Value: Simple(kv.Value))).ToList();
                if (items.All(i => i.Value is not null))
                    sh.Append("declare -A ").Append(key).Append("=(").Append(string.Concat(items.Select(i => $"[{ShellEscape(i.Key)}]={i.Value} "))).Append(")\n");
            }
        }

        return NixBytes.Encode(sh.ToString());
    }

    private static string? Simple(JsonNode? value)
    {
        switch (value?.GetValueKind() ?? JsonValueKind.Null)
        {
            case JsonValueKind.String:
                return ShellEscape(value!.GetValue<string>());
            case JsonValueKind.Number:
                var raw = value!.ToJsonString();
                if (long.TryParse(raw, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var l))
                    return ((int)l).ToString(CultureInfo.InvariantCulture);
                var d = double.Parse(raw, CultureInfo.InvariantCulture);
                var f = (float)d;
                return MathF.Ceiling(f) == f ? ((int)d).ToString(CultureInfo.InvariantCulture) : null;
            case JsonValueKind.Null:
                return "''";
            case JsonValueKind.True:
                return "1";
            case JsonValueKind.False:
                return "";
            default:
                return null;
        }
    }

    /// <summary>Nix's <c>shellEscape</c>: single quotes, with <c>'</c> written as <c>'\''</c>.</summary>
    private static string ShellEscape(string s) => "'" + s.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    private static IEnumerable<KeyValuePair<string, JsonNode?>> Sorted(JsonObject o) => o.OrderBy(kv => kv.Key, CodePointComparer.Instance);

    private static void Dump(StringBuilder s, JsonNode? node)
    {
        switch (node?.GetValueKind() ?? JsonValueKind.Null)
        {
            case JsonValueKind.Object:
                s.Append('{');
                var first = true;
                foreach (var (k, v) in Sorted((JsonObject)node!))
                {
                    if (!first)
                        s.Append(',');
                    first = false;
                    Quote(s, k);
                    s.Append(':');
                    Dump(s, v);
                }

                s.Append('}');
                break;
            case JsonValueKind.Array:
                s.Append('[');
                var firstItem = true;
                foreach (var v in (JsonArray)node!)
                {
                    if (!firstItem)
                        s.Append(',');
                    firstItem = false;
                    Dump(s, v);
                }

                s.Append(']');
                break;
            case JsonValueKind.String:
                Quote(s, node!.GetValue<string>());
                break;
            case JsonValueKind.Number:
                s.Append(Number(node!.ToJsonString()));
                break;
            case JsonValueKind.True:
                s.Append("true");
                break;
            case JsonValueKind.False:
                s.Append("false");
                break;
            default:
                s.Append("null");
                break;
        }
    }

    private static void Quote(StringBuilder s, string value)
    {
        s.Append('"');
        foreach (var c in value)
        {
            switch (c)
            {
                case '"': s.Append("\\\""); break;
                case '\\': s.Append("\\\\"); break;
                case '\b': s.Append("\\b"); break;
                case '\f': s.Append("\\f"); break;
                case '\n': s.Append("\\n"); break;
                case '\r': s.Append("\\r"); break;
                case '\t': s.Append("\\t"); break;
                case < ' ': s.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture)); break;
                default: s.Append(c); break;
            }
        }

        s.Append('"');
    }

    /// <summary>nlohmann::json's number output: integers as written, floats as the shortest round-trip digits.</summary>
    private static string Number(string raw)
    {
        if (long.TryParse(raw, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out _))
            return raw;
        var d = double.Parse(raw, CultureInfo.InvariantCulture);
        if (d == 0)
            return double.IsNegative(d) ? "-0.0" : "0.0";
        var shortest = Math.Abs(d).ToString("R", CultureInfo.InvariantCulture);
        // Digits and exponent of the shortest representation: value = 0.digits × 10^n.
        var e = shortest.IndexOf('E', StringComparison.Ordinal);
        var mantissa = e < 0 ? shortest : shortest[..e];
        var exp = e < 0 ? 0 : int.Parse(shortest[(e + 1)..], CultureInfo.InvariantCulture);
        var dot = mantissa.IndexOf('.', StringComparison.Ordinal);
        var intPart = dot < 0 ? mantissa : mantissa[..dot];
        var digits = (intPart + (dot < 0 ? "" : mantissa[(dot + 1)..])).TrimStart('0');
        var n = intPart.TrimStart('0').Length + exp;
        if (intPart.TrimStart('0').Length == 0)
            n = exp - (mantissa[(dot + 1)..].Length - mantissa[(dot + 1)..].TrimStart('0').Length);
        digits = digits.TrimEnd('0');
        string body;
        if (digits.Length <= n && n <= 15)
            body = digits + new string('0', n - digits.Length) + ".0";
        else if (n > 0 && n <= 15)
            body = digits[..n] + "." + digits[n..];
        else if (n > -4 && n <= 0)
            body = "0." + new string('0', -n) + digits;
        else
        {
            var x = n - 1;
            body = digits[..1] + (digits.Length > 1 ? "." + digits[1..] : "") + "e" + (x < 0 ? "-" : "+") + Math.Abs(x).ToString("00", CultureInfo.InvariantCulture);
        }

        return (d < 0 ? "-" : "") + body;
    }
}
