using System.Text.Json;
using System.Text.Json.Serialization;

namespace BuildFarm.Messaging.Requests;

/// <summary>
/// The one JSON shape of build requests on the queues (<see cref="Contracts.Builds.SignedBuildRequest"/> and the
/// <see cref="Contracts.Builds.BuildDerivation"/> inside it). Dispatcher and worker both use these options, so
/// the bytes the dispatcher signs are exactly the bytes the worker verifies and parses.
/// </summary>
public static class MessagingJson
{
    public static JsonSerializerOptions Options { get; } = new(JsonSerializerDefaults.Web)
    {
        Converters = { new JsonStringEnumConverter() },
        RespectNullableAnnotations = true,
        RespectRequiredConstructorParameters = true,
    };
}
