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
    /// <summary>Environment prefix → the options type bound from it (both must exist in the code).</summary>
    public static readonly IReadOnlyDictionary<string, string> Prefixes = new Dictionary<string, string>
    {
        ["BUILDFARM_WORKER__"] = "BuildFarm.Worker.Configuration.WorkerOptions, buildfarm-worker",
        ["BUILDFARM_DISPATCHER__"] = "BuildFarm.Dispatcher.Hosting.DispatcherOptions, buildfarm",
    };

    private static readonly Lazy<string> Sources = new(() => string.Join('\n',
        System.IO.Directory.EnumerateFiles(Path.Combine(RepoPaths.Root, "src"), "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains("/obj/", StringComparison.Ordinal) && !f.Contains("/bin/", StringComparison.Ordinal))
            .Select(File.ReadAllText)));

    /// <summary>Null when the code reads <paramref name="name"/> and accepts <paramref name="value"/>; otherwise why not.</summary>
    public static string? Problem(string name, string value)
    {
        if (Sources.Value.Contains('"' + name + '"', StringComparison.Ordinal))
            return null;
        var prefix = Prefixes.Keys.FirstOrDefault(p => name.StartsWith(p, StringComparison.Ordinal));
        if (prefix is null)
            return $"{name}: no literal \"{name}\" in src/ and no known configuration prefix ({string.Join(", ", Prefixes.Keys)})";
        if (!Sources.Value.Contains('"' + prefix + '"', StringComparison.Ordinal))
            return $"{name}: the prefix \"{prefix}\" is not a literal anywhere in src/ (no code adds those variables)";
        var type = Type.GetType(Prefixes[prefix]);
        if (type is null)
            return $"{name}: options type {Prefixes[prefix]} not found";
        var path = name[prefix.Length..].Split("__");
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
