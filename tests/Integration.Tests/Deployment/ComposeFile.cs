using BuildFarm.Testing;
using YamlDotNet.Core;
using YamlDotNet.Serialization;

namespace BuildFarm.Integration.Tests.Deployment;

/// <summary>compose/compose.yaml as plain dictionaries, with YAML merge keys (<c>&lt;&lt;: *worker</c>) resolved.</summary>
internal sealed class ComposeFile
{
    private ComposeFile(Dictionary<object, object> root) => Root = root;

    public static string Directory => Path.Combine(RepoPaths.Root, "compose");

    public Dictionary<object, object> Root { get; }

    public IReadOnlyDictionary<string, Dictionary<object, object>> Services =>
        Map(Root, "services").ToDictionary(s => (string)s.Key, s => (Dictionary<object, object>)s.Value);

    public static ComposeFile Load()
    {
        using var reader = new StringReader(File.ReadAllText(Path.Combine(Directory, "compose.yaml")));
        var root = new DeserializerBuilder().Build().Deserialize<Dictionary<object, object>>(new MergingParser(new Parser(reader)));
        return new ComposeFile(root);
    }

    public static Dictionary<object, object> Map(Dictionary<object, object> node, string key) =>
        node.TryGetValue(key, out var value) && value is Dictionary<object, object> map ? map : [];

    public static List<string> Strings(Dictionary<object, object> node, string key) =>
        node.TryGetValue(key, out var value) && value is List<object> list ? [.. list.Select(v => v.ToString() ?? "")] : [];

    public static string? String(Dictionary<object, object> node, string key) =>
        node.TryGetValue(key, out var value) ? value as string : null;

    /// <summary>A service's environment, whether written as a map or as a list of NAME=value.</summary>
    public static Dictionary<string, string> Environment(Dictionary<object, object> service)
    {
        if (!service.TryGetValue("environment", out var env))
            return [];
        return env switch
        {
            Dictionary<object, object> map => map.ToDictionary(e => (string)e.Key, e => e.Value?.ToString() ?? ""),
            List<object> list => list.Select(i => (i.ToString() ?? "").Split('=', 2)).ToDictionary(p => p[0], p => p.Length > 1 ? p[1] : ""),
            _ => [],
        };
    }

    /// <summary>Short-syntax volumes: (source, target, is a bind mount of a host path).</summary>
    public static IEnumerable<(string Source, string Target, bool IsBind)> Volumes(Dictionary<object, object> service) =>
        Strings(service, "volumes").Select(v => v.Split(':')).Select(p => (p[0], p[1], p[0].StartsWith('.') || p[0].StartsWith('/')));

    /// <summary>Short-syntax ports: (host port, container port).</summary>
    public static IEnumerable<(int Host, int Container)> Ports(Dictionary<object, object> service) =>
        Strings(service, "ports").Select(p => p.Split(':')).Select(p => (int.Parse(p[^2], System.Globalization.CultureInfo.InvariantCulture), int.Parse(p[^1], System.Globalization.CultureInfo.InvariantCulture)));
}
