using System.Collections.Immutable;
using System.Text.Json;

namespace BuildFarm.Store.Derivations;

/// <summary>Where in a JSON document a value sits, to name the field in every error.</summary>
internal readonly record struct FieldContext(string Source, string Field)
{
    public FieldContext Child(string name) => new(Source, Field.Length == 0 ? name : Field + "." + name);

    public DerivationFormatException Error(string message) =>
        new($"{Source}: {(Field.Length == 0 ? "top level" : Field)}: {message}");

    public void RequireObject(JsonElement e, string what)
    {
        if (e.ValueKind != JsonValueKind.Object)
            throw Error($"expected {what}, found {Kind(e)}");
    }

    public void RejectUnknown(JsonElement e, params string[] known)
    {
        foreach (var p in e.EnumerateObject())
        {
            if (!known.Contains(p.Name, StringComparer.Ordinal))
                throw Child(p.Name).Error($"unknown field (known: {string.Join(", ", known)})");
        }
    }

    public string RequiredString(JsonElement obj, string name) =>
        obj.TryGetProperty(name, out var v) ? Child(name).String(v) : throw Child(name).Error("missing (required)");

    public string? OptionalString(JsonElement obj, string name) =>
        obj.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null ? Child(name).String(v) : null;

    public ImmutableArray<string>? OptionalStrings(JsonElement obj, string name)
    {
        if (!obj.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null)
            return null;
        var at = Child(name);
        if (v.ValueKind != JsonValueKind.Array)
            throw at.Error($"expected an array of strings, found {Kind(v)}");
        var i = 0;
        var list = ImmutableArray.CreateBuilder<string>();
        foreach (var item in v.EnumerateArray())
            list.Add(new FieldContext(Source, $"{at.Field}[{i++}]").String(item));
        return list.ToImmutable();
    }

    public ImmutableSortedDictionary<string, string> StringMap(JsonElement v)
    {
        RequireObject(v, "an object of strings");
        var map = Derivation.EmptyEnv.ToBuilder();
        foreach (var p in v.EnumerateObject())
        {
            if (map.ContainsKey(p.Name))
                throw Child(p.Name).Error("given twice");
            map[p.Name] = Child(p.Name).String(p.Value);
        }

        return map.ToImmutable();
    }

    public string String(JsonElement v) =>
        v.ValueKind == JsonValueKind.String ? v.GetString()! : throw Error($"expected a string, found {Kind(v)}");

    public bool Bool(JsonElement v) => v.ValueKind switch
    {
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        _ => throw Error($"expected true or false, found {Kind(v)}"),
    };

    private static string Kind(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => $"the number {e.GetRawText()}",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => e.ValueKind.ToString(),
    };
}
