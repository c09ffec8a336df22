using System.Collections;
using System.ComponentModel;
using System.Globalization;
using System.Reflection;
using BuildFarm.Testing;

namespace BuildFarm.Integration.Tests.Deployment;

/// <summary>
/// Says whether the code reads a BUILDFARM_ environment variable: either its exact name is a literal in src/
/// (read with Environment.GetEnvironmentVariable), or it carries the prefix of a configuration section bound by
/// Microsoft.Extensions.Configuration (<c>PREFIX + Key__Nested__0</c>) and the key path names a property of that
/// options type whose type converts the value, as the configuration binder would.
/// </summary>
internal static class ConfigurationVariables
{
    /// <summary>
    /// Environment prefix → the sections bound from it: section name ("" = the root object) and options type.
    /// One prefix per program (docs/configuration.md): <c>BUILDFARM_WORKER__</c> binds the worker's root object,
    /// <c>BUILDFARM_DISPATCHER__</c> the dispatcher's sections Broker and Ui by name and its own keys otherwise.
    /// </summary>
    public static readonly IReadOnlyList<(string Prefix, string Section, string Type)> Bindings =
    [
        ("BUILDFARM_WORKER__", "", "BuildFarm.Worker.Configuration.WorkerOptions, buildfarm-worker"),
        ("BUILDFARM_DISPATCHER__", "Broker", "BuildFarm.Messaging.Broker.BrokerOptions, BuildFarm.Messaging"),
        ("BUILDFARM_DISPATCHER__", "Ui", "BuildFarm.Dispatcher.Ui.UiOptions, BuildFarm.Dispatcher"),
        ("BUILDFARM_DISPATCHER__", "", "BuildFarm.Dispatcher.Hosting.DispatcherOptions, BuildFarm.Dispatcher"),
    ];

    private static readonly Lazy<string> Sources = new(() => string.Join('\n',
        System.IO.Directory.EnumerateFiles(Path.Combine(RepoPaths.Root, "src"), "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains("/obj/", StringComparison.Ordinal) && !f.Contains("/bin/", StringComparison.Ordinal))
            .Select(File.ReadAllText)));

    /// <summary>Null when the code reads <paramref name="name"/> and accepts <paramref name="value"/>; otherwise why not.</summary>
    public static string? Problem(string name, string value) => Problem(name, value, Bindings, Sources.Value);

    public static string? Problem(string name, string value, IReadOnlyList<(string Prefix, string Section, string Type)> bindings, string sources)
    {
        if (sources.Contains('"' + name + '"', StringComparison.Ordinal))
            return null;
        var prefix = bindings.Select(b => b.Prefix).FirstOrDefault(p => name.StartsWith(p, StringComparison.Ordinal));
        if (prefix is null)
            return $"{name}: no literal \"{name}\" in src/ and no known configuration prefix";
        if (!sources.Contains('"' + prefix + '"', StringComparison.Ordinal))
            return $"{name}: the prefix \"{prefix}\" is not a literal anywhere in src/ (no code adds those variables)";
        var path = name[prefix.Length..].Split("__");
        var binding = bindings.Where(b => b.Prefix == prefix)
            .FirstOrDefault(b => b.Section.Length == 0 || string.Equals(b.Section, path[0], StringComparison.OrdinalIgnoreCase));
        if (binding.Type is null)
            return $"{name}: '{path[0]}' is not a section bound from {prefix} ({string.Join(", ", bindings.Where(b => b.Prefix == prefix).Select(b => b.Section))})";
        if (binding.Section.Length > 0)
            path = path[1..];
        var type = Type.GetType(binding.Type);
        if (type is null)
            return $"{name}: options type {binding.Type} not found";
        foreach (var segment in path)
        {
            if (int.TryParse(segment, NumberStyles.None, CultureInfo.InvariantCulture, out _))
            {
                var element = ElementType(type);
                if (element is null)
                    return $"{name}: '{segment}' indexes {type.Name}, which is not a list";
                type = element;
                continue;
            }

            var property = type.GetProperty(segment, BindingFlags.Public | BindingFlags.Instance | BindingFlags.IgnoreCase);
            if (property is null || !property.CanWrite && !typeof(IEnumerable).IsAssignableFrom(property.PropertyType))
                return $"{name}: {type.Name} has no settable property '{segment}' (has: {string.Join(", ", type.GetProperties().Select(p => p.Name))})";
            type = property.PropertyType;
        }

        var target = Nullable.GetUnderlyingType(type) ?? type;
        var converter = TypeDescriptor.GetConverter(target);
        if (target != typeof(string) && !converter.CanConvertFrom(typeof(string)))
            return $"{name}: the key is a {target.Name} section, not a value";
        try
        {
            _ = converter.ConvertFromInvariantString(value);
            return null;
        }
        catch (Exception e) when (e is FormatException or NotSupportedException or ArgumentException)
        {
            return $"{name}: '{value}' is not a valid {target.Name}: {e.Message}";
        }
    }

    private static Type? ElementType(Type type) =>
        type.IsArray ? type.GetElementType()
        : type.GetInterfaces().Append(type).FirstOrDefault(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IEnumerable<>))?.GetGenericArguments()[0] is { } e && type != typeof(string) ? e : null;
}
