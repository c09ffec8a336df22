using System.Text.Json;
using System.Text.Json.Serialization;

namespace BuildFarm.Messaging.Serialization;

/// <summary>
/// The one JSON dialect of build requests on the raw RabbitMQ channel (<c>SignedBuildRequest</c> bodies and the
/// <c>BuildDerivation</c> they carry). Dispatcher and workers must serialise identically, so both use these options.
/// </summary>
public static class MessagingJson
{
    public static JsonSerializerOptions Options { get; } = new(JsonSerializerDefaults.Web)
    {
        Converters = { new JsonStringEnumConverter() },
        WriteIndented = false,
    };
}
