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
    };

    private static readonly HashSet<string> AlwaysWritten =
        ["name", "systems", "supportedFeatures", "mandatoryFeatures", "slots", "speedFactor", "store", "keys", "broker", "allowUnsandboxed"];

    public static string Serialize(WorkerOptions options)
    {
        var written = JsonSerializer.SerializeToNode(options, Json)!.AsObject();
        var defaults = JsonSerializer.SerializeToNode(new WorkerOptions(), Json)!.AsObject();
        DropDefaults(written, defaults, AlwaysWritten);
        return written.ToJsonString(Json) + "\n";
    }

    /// <summary>A deep copy (through the same JSON), so paths can be rewritten for validation without touching the original.</summary>
    public static WorkerOptions Copy(WorkerOptions options) =>
        JsonSerializer.Deserialize<WorkerOptions>(JsonSerializer.Serialize(options, Json), Json)!;

    private static void DropDefaults(JsonObject written, JsonObject defaults, HashSet<string>? keep = null)
    {
        foreach (var (key, value) in written.ToList())
        {
            if (keep?.Contains(key) == true)
                continue;
            var fallback = defaults[key];
            if (value is JsonObject section && fallback is JsonObject sectionDefaults)
            {
                DropDefaults(section, sectionDefaults);
                if (section.Count == 0)
                    written.Remove(key);
            }
            else if (JsonNode.DeepEquals(value, fallback))
            {
                written.Remove(key);
            }
        }
    }
}
