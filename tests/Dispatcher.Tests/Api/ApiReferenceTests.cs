using System.Text.RegularExpressions;
using BuildFarm.Testing;
using BuildFarm.Dispatcher.Tests.Ui;

namespace BuildFarm.Dispatcher.Tests.Api;

/// <summary>docs/api.md against the routes the dispatcher really maps, read from ASP.NET Core's endpoint table.</summary>
public sealed partial class ApiReferenceTests
{
    [Fact]
    public async Task ApiReference_EveryMappedRoute_HasExactlyOneSectionAndNoSectionIsStale()
    {
        await using var h = await UiHarness.StartAsync();
        var headings = (await File.ReadAllLinesAsync(Path.Combine(RepoPaths.Root, "docs", "api.md")))
            .Where(l => l.StartsWith("### ", StringComparison.Ordinal))
            .Select(l => l[4..].Trim())
            .ToList();
        // "/api/builds/{id:guid}/log" is documented as "GET /api/builds/{id}/log"; a group's own route ("/api/graphs/",
        // which routing matches with or without the slash) as "/api/graphs".
        var routes = h.Routes().Select(r => $"{r.Method} {Documented(r.Pattern)}").ToList();
        Assert.Contains("GET /api/builds/{id}/log", routes);

        Assert.Empty(routes.Except(headings, StringComparer.Ordinal));
        Assert.Empty(headings.Except(routes, StringComparer.Ordinal));
        Assert.Empty(headings.GroupBy(x => x, StringComparer.Ordinal).Where(g => g.Count() > 1).Select(g => g.Key));
    }

    private static string Documented(string pattern) =>
        Constraint().Replace(pattern.Length > 1 ? pattern.TrimEnd('/') : pattern, "{$1}");

    [GeneratedRegex(@"\{(\w+):\w+\}")]
    private static partial Regex Constraint();
}
