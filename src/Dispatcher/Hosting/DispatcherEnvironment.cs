using System.Collections;
using Microsoft.Extensions.Configuration;

namespace BuildFarm.Dispatcher.Hosting;

/// <summary>
/// The dispatcher's environment overrides, one prefix for every key like the worker's <c>BUILDFARM_WORKER__</c>:
/// <c>BUILDFARM_DISPATCHER__ListenUrl</c> → <c>Dispatcher:ListenUrl</c>, and the file's other sections below the
/// same prefix: <c>BUILDFARM_DISPATCHER__Broker__Uri</c> → <c>Broker:Uri</c>, <c>BUILDFARM_DISPATCHER__Ui__Token</c>
/// → <c>Ui:Token</c>. The older names <c>BUILDFARM_Broker__*</c> and <c>BUILDFARM_Ui__*</c> still work, with lower
/// precedence. Names are matched case-insensitively; other <c>BUILDFARM_*</c> variables (CLI ones such as
/// <c>BUILDFARM_STORE_DIR</c>, the worker's) are ignored.
/// </summary>
internal static class DispatcherEnvironment
{
    public const string Prefix = "BUILDFARM_DISPATCHER__";

    private static readonly string[] OtherSections = ["Broker", "Ui"];

    public static IConfigurationBuilder AddDispatcherEnvironment(this IConfigurationBuilder builder, IDictionary? variables = null) =>
        builder.AddInMemoryCollection(Map(variables ?? Environment.GetEnvironmentVariables()));

    /// <summary>Configuration keys (<c>Section:Key</c>) from environment variables; canonical names win over the legacy ones.</summary>
    public static Dictionary<string, string?> Map(IDictionary variables)
    {
        var legacy = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        var canonical = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        foreach (DictionaryEntry entry in variables)
        {
            if (entry.Key is not string name || entry.Value is not string value)
                continue;
            if (name.StartsWith(Prefix, StringComparison.OrdinalIgnoreCase))
            {
                var path = name[Prefix.Length..].Split("__");
                var section = OtherSections.FirstOrDefault(s => string.Equals(s, path[0], StringComparison.OrdinalIgnoreCase));
                var key = section is not null && path.Length > 1
                    ? section + ":" + string.Join(':', path[1..])
                    : DispatcherOptions.Section + ":" + string.Join(':', path);
                canonical[key] = value;
                continue;
            }

            foreach (var section in OtherSections)
            {
                var old = "BUILDFARM_" + section + "__";
                if (name.StartsWith(old, StringComparison.OrdinalIgnoreCase) && name.Length > old.Length)
                    legacy[section + ":" + name[old.Length..].Replace("__", ":", StringComparison.Ordinal)] = value;
            }
        }

        foreach (var (key, value) in canonical)
            legacy[key] = value;
        return legacy;
    }
}
