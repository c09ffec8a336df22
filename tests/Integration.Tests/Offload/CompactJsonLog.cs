using System.Text.Json;

namespace BuildFarm.Integration.Tests.Offload;

/// <summary>A Serilog compact JSON log file (one event a line: <c>@mt</c> template, <c>@t</c>, properties), read while it is written.</summary>
internal static class CompactJsonLog
{
    public static IReadOnlyList<JsonElement> Read(string file)
    {
        if (!File.Exists(file))
            return [];
        using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var reader = new StreamReader(stream);
        var events = new List<JsonElement>();
        while (reader.ReadLine() is { } line)
        {
            if (line.Length > 0)
                events.Add(JsonDocument.Parse(line).RootElement.Clone());
        }

        return events;
    }

    /// <summary>The events whose property <paramref name="name"/> is <paramref name="value"/>.</summary>
    public static IEnumerable<JsonElement> With(this IEnumerable<JsonElement> events, string name, string value) =>
        events.Where(e => e.TryGetProperty(name, out var p) && p.ValueKind == JsonValueKind.String && p.GetString() == value);

    public static string Template(this JsonElement e) => e.GetProperty("@mt").GetString()!;
}
