using System.Collections.Concurrent;
using System.Reflection;
using System.Text.Json;
using MassTransit;

namespace BuildFarm.Dispatcher.Events;

/// <summary>
/// The members of a received event that this dispatcher's contracts do not have: what a worker of a newer contract
/// version sends. They are not in the record, so they cannot be in the signed text this dispatcher rebuilds; naming them
/// turns a bare "bad signature" into the actual cause (<see cref="WorkerEventAuthenticator"/>). Read only on a refusal.
/// </summary>
internal static class EventMembers
{
    private static readonly ConcurrentDictionary<Type, HashSet<string>> Known = new();

    /// <summary>The unknown, non-null members of the event in <paramref name="context"/>; empty when there are none or the body is unreadable.</summary>
    public static IReadOnlyList<string> Unknown<T>(ConsumeContext<T> context)
        where T : class
    {
        try
        {
            return Unknown(context.ReceiveContext.Body.GetBytes(), typeof(T));
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or NotSupportedException)
        {
            return [];
        }
    }

    /// <summary>The unknown, non-null members of the <c>message</c> object of a MassTransit JSON envelope.</summary>
    /// <exception cref="JsonException">The envelope is not JSON.</exception>
    public static IReadOnlyList<string> Unknown(ReadOnlySpan<byte> envelope, Type type)
    {
        var reader = new Utf8JsonReader(envelope);
        using var doc = JsonDocument.ParseValue(ref reader);
        if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("message", out var message) || message.ValueKind != JsonValueKind.Object)
            return [];
        var known = Known.GetOrAdd(type, t => t.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Select(p => p.Name).ToHashSet(StringComparer.OrdinalIgnoreCase));
        return [.. message.EnumerateObject().Where(p => p.Value.ValueKind != JsonValueKind.Null && !known.Contains(p.Name)).Select(p => p.Name)];
    }
}
