using System.Text.RegularExpressions;
using BuildFarm.Dispatcher.Ui;
using BuildFarm.Messaging.Broker;
using Microsoft.Extensions.Configuration;

namespace BuildFarm.Dispatcher.Hosting;

/// <summary>
/// Refuses configuration keys the dispatcher does not know, with the binder's own check (as the worker does): a
/// misspelt key (<c>Dispatcher:Orgin</c>) would otherwise be ignored and leave its default in force, which for the
/// origin means no result verification at all.
/// </summary>
internal static partial class DispatcherConfigKeys
{
    private static readonly (string Section, Type Type)[] Sections =
        [(DispatcherOptions.Section, typeof(DispatcherOptions)), ("Broker", typeof(BrokerOptions)), (UiOptions.Section, typeof(UiOptions))];

    /// <summary>One error per unknown section or key, naming it; empty when every key binds.</summary>
    public static IReadOnlyList<string> Problems(IConfiguration configuration)
    {
        var errors = new List<string>();
        var known = string.Join(", ", Sections.Select(s => s.Section));
        foreach (var child in configuration.GetChildren())
        {
            if (!Sections.Any(s => string.Equals(s.Section, child.Key, StringComparison.OrdinalIgnoreCase)))
                errors.Add($"'{child.Key}' is not a configuration section: the dispatcher reads {known}");
        }

        foreach (var (section, type) in Sections)
        {
            try
            {
                configuration.GetSection(section).Get(type, b => b.ErrorOnUnknownConfiguration = true);
            }
            catch (InvalidOperationException e)
            {
                errors.Add($"{section}: {Describe(e.Message)}: nothing reads it, so its value would be ignored; check the spelling against docs/configuration.md");
            }
        }

        return errors;
    }

    /// <summary>The binder says "… not found on the instance of T: 'A', 'B'"; keep the names and the type.</summary>
    private static string Describe(string message)
    {
        var match = BinderMessage().Match(message);
        return match.Success ? $"unknown key {match.Groups["keys"].Value} in {match.Groups["type"].Value.Split('.')[^1]}" : "unknown key: " + message;
    }

    [GeneratedRegex(@"instance of (?<type>[\w.+]+): (?<keys>.+)$")]
    private static partial Regex BinderMessage();
}
