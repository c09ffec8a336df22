using System.Text.Json;
using System.Text.Json.Nodes;
using BuildFarm.Store.Derivations;

namespace BuildFarm.Worker.Derivations;

/// <summary>
/// Nix 2.8's <c>ParsedDerivation</c>: a derivation's attributes read from its environment, or from its
/// <c>__json</c> attribute when it uses <c>__structuredAttrs</c> (then types are checked with Nix's messages).
/// </summary>
internal sealed class DerivationAttributes
{
    private static readonly char[] Whitespace = [' ', '\t', '\n', '\r'];
    private readonly string _drvPath;
    private readonly IReadOnlyDictionary<string, string> _env;

    private DerivationAttributes(string drvPath, IReadOnlyDictionary<string, string> env, JsonObject? structured)
    {
        _drvPath = drvPath;
        _env = env;
        Structured = structured;
    }

    /// <summary>The parsed <c>__json</c> attribute, or null for a derivation without structured attributes.</summary>
    public JsonObject? Structured { get; }

    /// <summary>Parses <c>__json</c>; the error is Nix's <c>cannot process __json attribute of '…'</c>.</summary>
    public static DerivationAttributes Parse(string drvPath, IReadOnlyDictionary<string, string> env, out string? error)
    {
        error = null;
        if (!env.TryGetValue("__json", out var json))
            return new DerivationAttributes(drvPath, env, null);
        try
        {
            if (JsonNode.Parse(json) is JsonObject o)
                return new DerivationAttributes(drvPath, env, o);
            error = $"cannot process __json attribute of '{BaseName(drvPath)}': not a JSON object";
        }
        catch (JsonException e)
        {
            error = $"cannot process __json attribute of '{BaseName(drvPath)}': {e.Message}";
        }

        return new DerivationAttributes(drvPath, env, null);
    }

    public string? GetString(string name)
    {
        if (Structured is null)
            return _env.TryGetValue(name, out var v) ? v : null;
        if (!Structured.TryGetPropertyValue(name, out var node))
            return null;
        return node is JsonValue value && value.GetValueKind() == JsonValueKind.String
            ? value.GetValue<string>()
            : throw new DerivationAttributeException($"attribute '{name}' of derivation '{BaseName(_drvPath)}' must be a string");
    }

    public bool GetBool(string name, bool fallback = false)
    {
        if (Structured is null)
            return _env.TryGetValue(name, out var v) ? v == "1" : fallback;
        if (!Structured.TryGetPropertyValue(name, out var node))
            return fallback;
        return node?.GetValueKind() switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw new DerivationAttributeException($"attribute '{name}' of derivation '{BaseName(_drvPath)}' must be a Boolean"),
        };
    }

    public IReadOnlyList<string>? GetStrings(string name)
    {
        if (Structured is null)
            return _env.TryGetValue(name, out var v) ? Tokenize(v) : null;
        if (!Structured.TryGetPropertyValue(name, out var node))
            return null;
        if (node is not JsonArray array || array.Any(e => e?.GetValueKind() != JsonValueKind.String))
            throw new DerivationAttributeException($"attribute '{name}' of derivation '{BaseName(_drvPath)}' must be a list of strings");
        return [.. array.Select(e => e!.GetValue<string>())];
    }

    /// <summary>Nix's <c>tokenizeString</c> with its default separators (space, tab, newline, carriage return).</summary>
    public static IReadOnlyList<string> Tokenize(string s) => s.Split(Whitespace, StringSplitOptions.RemoveEmptyEntries);

    /// <summary>Nix prints <c>drvPath.to_string()</c> in these messages: the base name, without the store directory.</summary>
    public static string BaseName(string path) => Path.GetFileName(path);
}

/// <summary>A derivation attribute of the wrong type, or a refusal Nix makes before the builder runs.</summary>
internal sealed class DerivationAttributeException(string message) : Exception(message);
