using System.Text.Json;

namespace BuildFarm.Hook.Farm;

/// <summary>
/// Where the hook finds its dispatcher. The daemon starts the hook with its own environment (nix-daemon's, not the
/// user's), so besides <c>BUILDFARM_URL</c> / <c>BUILDFARM_TOKEN</c> the hook reads <c>/etc/buildfarm/hook.json</c>
/// (<c>BUILDFARM_HOOK_CONFIG</c> names another file): <c>{"url": "...", "token": "...", "postponeLimitSeconds": 120}</c>.
/// Environment variables win over the file.
/// </summary>
public sealed record HookSettings(string Url, string? Token, TimeSpan PostponeLimit)
{
    public const string DefaultConfigFile = "/etc/buildfarm/hook.json";

    public static readonly TimeSpan DefaultPostponeLimit = TimeSpan.FromMinutes(2);

    /// <summary>The settings, or the reason there are none (the hook then declines everything, saying why).</summary>
    public static (HookSettings? Settings, string? Error) Load(Func<string, string?> env)
    {
        var path = env("BUILDFARM_HOOK_CONFIG") is { Length: > 0 } p ? p : DefaultConfigFile;
        string? url = null, token = null;
        var limit = DefaultPostponeLimit;
        if (File.Exists(path))
        {
            try
            {
                using var doc = JsonDocument.Parse(File.ReadAllText(path));
                var root = doc.RootElement;
                url = Text(root, "url");
                token = Text(root, "token");
                if (root.TryGetProperty("postponeLimitSeconds", out var s) && s.TryGetDouble(out var seconds) && seconds >= 0)
                    limit = TimeSpan.FromSeconds(seconds);
            }
            catch (Exception e) when (e is JsonException or IOException or UnauthorizedAccessException or InvalidOperationException)
            {
                return (null, $"{path}: {e.Message} (expected {{\"url\": \"http://HOST:PORT\", \"token\": \"...\"}})");
            }
        }

        url = env("BUILDFARM_URL") is { Length: > 0 } u ? u.Trim() : url;
        token = env("BUILDFARM_TOKEN") is { Length: > 0 } t ? t : token;
        if (env("BUILDFARM_HOOK_POSTPONE_LIMIT") is { Length: > 0 } l && double.TryParse(l, System.Globalization.CultureInfo.InvariantCulture, out var secs))
            limit = TimeSpan.FromSeconds(secs);
        if (url is null)
            return (null, $"no dispatcher configured: set BUILDFARM_URL or write {{\"url\": ...}} to {path}");
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != "http" && uri.Scheme != "https"))
            return (null, $"dispatcher URL '{url}' is not an http(s) URL (BUILDFARM_URL or {path})");
        return (new HookSettings(url.TrimEnd('/'), token, limit), null);
    }

    private static string? Text(JsonElement root, string name) =>
        root.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String && v.GetString() is { Length: > 0 } s ? s : null;
}
