using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace BuildFarm.Worker.Configuration;

/// <summary>
/// Writes <see cref="WorkerOptions"/> as the JSON the worker reads (<see cref="WorkerConfiguration"/>): camelCase keys,
/// as in docs/configuration.md and compose/config (the binder ignores case). The worker's identity, capabilities,
/// store, keys, broker and sandbox choice are always written; of the rest only what differs from the default, so a
/// later version's better default reaches configs written today.
/// </summary>
internal static class WorkerConfigFile
{
    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Converters = { new JsonStringEnumConverter() },
        WriteIndented = true,
        // Keys and fingerprints hold '+' and '/': written as they are, not as \u002B (the JSON is not embedded in HTML).
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    private static readonly HashSet<string> AlwaysWritten =
        ["name", "systems", "supportedFeatures", "mandatoryFeatures", "slots", "speedFactor", "store", "keys", "broker", "allowUnsandboxed"];

    public static string Serialize(WorkerOptions options)
    {
        var written = JsonSerializer.SerializeToNode(options, Json)!.AsObject();
        var defaults = JsonSerializer.SerializeToNode(new WorkerOptions(), Json)!.AsObject();
        DropDefaults(written, defaults);
        return written.ToJsonString(Json) + "\n";
    }

    /// <summary>A deep copy (through the same JSON), so paths can be rewritten for validation without touching the original.</summary>
    public static WorkerOptions Copy(WorkerOptions options) =>
        JsonSerializer.Deserialize<WorkerOptions>(JsonSerializer.Serialize(options, Json), Json)!;

    /// <summary>
    /// Empty strings and zeros equal to their default ("not set", e.g. no store cap) always go, and so do numbers equal
    /// to their default inside a kept section (a limit's default then follows the release); other defaults go unless kept.
    /// </summary>
    private static void DropDefaults(JsonObject written, JsonObject defaults, bool keepAll = false)
    {
        foreach (var (key, value) in written.ToList())
        {
            var keep = keepAll || (defaults.Parent is null && AlwaysWritten.Contains(key));
            var fallback = defaults[key];
            if (value is JsonObject section && fallback is JsonObject sectionDefaults)
            {
                DropDefaults(section, sectionDefaults, keep);
                if (section.Count == 0 && !keep)
                    written.Remove(key);
            }
            else if (JsonNode.DeepEquals(value, fallback) && (!keep || value is JsonValue v && (v.TryGetValue<string>(out var text) && text.Length == 0
                || v.TryGetValue<long>(out var number) && (number == 0 || keepAll))))
            {
                written.Remove(key);
            }
            else if (value is JsonArray items)
            {
                foreach (var item in items.OfType<JsonObject>())
                {
                    foreach (var (itemKey, itemValue) in item.ToList())
                    {
                        if (itemValue is JsonValue iv && iv.TryGetValue<string>(out var s) && s.Length == 0)
                            item.Remove(itemKey);
                    }
                }
            }
        }
    }
}
