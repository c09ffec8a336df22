using System.Text.Json;
using BuildFarm.Dispatcher.Graphs;
using BuildFarm.Messaging.Requests;
using Microsoft.AspNetCore.Http;

namespace BuildFarm.Dispatcher.Api;

/// <summary>A node as read: its JSON columns (dependencies, wanted outputs, output paths) as stored.</summary>
internal sealed record GraphNodeRow(
    string DrvPath, string State, bool IsTarget, string? BuildId, string? Worker, string? FailureKind, string? Reason,
    string Dependencies, string WantedOutputs, string OutputPaths, int? Level = null)
{
    public GraphNodeView ToView() => new(DrvPath, State, IsTarget, BuildId is null ? null : Guid.Parse(BuildId), Worker, FailureKind, Reason,
        JsonSerializer.Deserialize<string[]>(Dependencies, MessagingJson.Options)!, JsonSerializer.Deserialize<string[]>(WantedOutputs, MessagingJson.Options)!,
        JsonSerializer.Deserialize<Dictionary<string, string>>(OutputPaths, MessagingJson.Options)!, Level);
}

/// <summary>
/// A graph answer (<see cref="GraphView"/>) before it is written: <see cref="ToView"/> for the records, or
/// <see cref="ExecuteAsync"/> to write the same JSON straight to the response, the nodes' JSON columns copied as stored
/// (they are the serialiser's own output: <see cref="GraphTable.InsertAsync"/>), so a 10,000-node answer builds no
/// object per node and streams as it is written.
/// </summary>
internal sealed record GraphRows(GraphRecord Graph, GraphCounts Counts, List<GraphNodeRow> Nodes, long Cursor) : IResult
{
    /// <summary>Flushed to the client every this many bytes, so a big answer is sent while it is written.</summary>
    private const int FlushBytes = 64 * 1024;

    public GraphView ToView() => new(Graph.Id, Graph.State, Graph.KeepGoing, Graph.Targets, Graph.CreatedAt, Graph.FinishedAt, Counts,
        Nodes.ConvertAll(n => n.ToView()), Cursor);

    /// <summary>The JSON of <see cref="GraphView"/> as ASP.NET's web defaults write it (camelCase, nulls written).</summary>
    public async Task ExecuteAsync(HttpContext httpContext)
    {
        var response = httpContext.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "application/json; charset=utf-8";
        var ct = httpContext.RequestAborted;
        await using var json = new Utf8JsonWriter(response.BodyWriter);
        json.WriteStartObject();
        json.WriteString("id", Graph.Id);
        json.WriteString("state", Graph.State);
        json.WriteBoolean("keepGoing", Graph.KeepGoing);
        json.WriteStartArray("targets");
        foreach (var t in Graph.Targets)
            json.WriteStringValue(t);
        json.WriteEndArray();
        json.WriteString("createdAt", Graph.CreatedAt);
        if (Graph.FinishedAt is { } finished)
            json.WriteString("finishedAt", finished);
        else
            json.WriteNull("finishedAt");
        json.WritePropertyName("counts");
        JsonSerializer.Serialize(json, Counts, JsonSerializerOptions.Web);
        json.WriteStartArray("nodes");
        foreach (var n in Nodes)
        {
            json.WriteStartObject();
            json.WriteString("drvPath", n.DrvPath);
            json.WriteString("state", n.State);
            json.WriteBoolean("isTarget", n.IsTarget);
            StringOrNull(json, "buildId", n.BuildId);
            StringOrNull(json, "worker", n.Worker);
            StringOrNull(json, "failureKind", n.FailureKind);
            StringOrNull(json, "reason", n.Reason);
            json.WritePropertyName("dependencies");
            json.WriteRawValue(n.Dependencies, skipInputValidation: true);
            json.WritePropertyName("wantedOutputs");
            json.WriteRawValue(n.WantedOutputs, skipInputValidation: true);
            json.WritePropertyName("outputPaths");
            json.WriteRawValue(n.OutputPaths, skipInputValidation: true);
            if (n.Level is { } level)
                json.WriteNumber("level", level);
            else
                json.WriteNull("level");
            json.WriteEndObject();
            if (json.BytesPending >= FlushBytes)
            {
                json.Flush();
                await response.BodyWriter.FlushAsync(ct);
            }
        }

        json.WriteEndArray();
        json.WriteNumber("cursor", Cursor);
        json.WriteEndObject();
        json.Flush();
        await response.BodyWriter.FlushAsync(ct);
    }

    private static void StringOrNull(Utf8JsonWriter json, string name, string? value)
    {
        if (value is null)
            json.WriteNull(name);
        else
            json.WriteString(name, value);
    }
}
